//! `scheduler/config.json` (diffusers' `DDIMScheduler`; SD 1.5's values when a key is absent).

use serde::Deserialize;

#[derive(Deserialize, Clone, Debug)]
pub struct SchedulerConfig {
    #[serde(default = "default_train_steps")]
    pub num_train_timesteps: usize,
    #[serde(default = "default_beta_start")]
    pub beta_start: f64,
    #[serde(default = "default_beta_end")]
    pub beta_end: f64,
    #[serde(default = "default_beta_schedule")]
    pub beta_schedule: String,
    #[serde(default)]
    pub set_alpha_to_one: bool,
    #[serde(default = "default_steps_offset")]
    pub steps_offset: usize,
    #[serde(default = "default_prediction")]
    pub prediction_type: String,
    #[serde(default = "default_spacing")]
    pub timestep_spacing: String,
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
    /// Dynamic thresholding of x0 (Imagen); Stable Diffusion does not use it.
    #[serde(default)]
    pub thresholding: bool,
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
    /// diffusers clips x0 to [-1, 1] when set; its Stable Diffusion pipeline turns it off.
    #[serde(default)]
    pub clip_sample: bool,
    /// The scheduler the model ships with (SD 1.5: PNDM); pivot always steps with DDIM, as the
    /// inversion needs, from the same schedule.
    #[serde(default, rename = "_class_name")]
    pub class_name: Option<String>,
}

fn default_train_steps() -> usize {
    1000
}
fn default_beta_start() -> f64 {
    0.00085
}
fn default_beta_end() -> f64 {
    0.012
}
fn default_beta_schedule() -> String {
    "scaled_linear".into()
}
fn default_steps_offset() -> usize {
    1
}
fn default_prediction() -> String {
    "epsilon".into()
}
fn default_spacing() -> String {
    "leading".into()
}

impl Default for SchedulerConfig {
    /// The Stable Diffusion 1.5 DDIM configuration (ALGORITHMS §P.2).
    fn default() -> Self {
        serde_json::from_str("{}").expect("all scheduler fields have defaults")
    }
}
