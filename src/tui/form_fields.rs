//! The add-image and edit forms: what has been typed and chosen in them so far.

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddForm {
    /// 0 = path, 1 = prompt, 2 = method, 3 = fixed-point iterations.
    pub field: usize,
    pub path: String,
    pub prompt: String,
    /// Index into [`AddForm::METHODS`] (null-text by default).
    pub method: usize,
    /// Fixed-point iterations per DDIM inversion step, chosen from 0 to [`AddForm::MAX_FIXED_POINT`].
    pub fixed_point: usize,
    pub error: Option<String>,
    /// What the last Tab found when several names match (shown under the fields).
    pub choices: Option<String>,
}

impl AddForm {
    /// The inversion methods the form offers, the default first.
    pub const METHODS: [&'static str; 4] = ["null-text", "direct", "npi", "ddim"];
    /// The most fixed-point iterations the form offers (1–3 converge).
    pub const MAX_FIXED_POINT: usize = 3;
    pub const FIELDS: usize = 4;

    pub fn method_name(&self) -> &'static str {
        Self::METHODS[self.method % Self::METHODS.len()]
    }

    /// Whether the field being typed is chosen (Space or ←/→), not typed.
    pub fn on_choice(&self) -> bool {
        self.field >= 2
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EditForm {
    /// The item the form was opened for: the edit goes to it even if the selection moves.
    pub item: String,
    pub field: usize,
    pub target: String,
    pub refine: bool,
    pub cross: String,
    pub self_replace: String,
    /// The source's words, a comma, the target's (then a threshold), or empty.
    pub blend: String,
    /// Words whose region the blend leaves alone, as `blend` takes them, or empty.
    pub blend_except: String,
    /// `word=2.0 other=0.5` (spaces or commas between) or empty.
    pub reweight: String,
    /// Proximal guidance: `l0` or `l1`, then a quantile, a pull, `strength=`/`below=`; or empty.
    pub prox: String,
    pub error: Option<String>,
    /// The edit whose settings the form started from, if any (said in its title).
    pub from: Option<String>,
}

impl EditForm {
    pub const FIELDS: [&'static str; 8] = ["target prompt", "mode", "cross replace", "self replace", "blend words", "blend except", "re-weight", "proximal"];

    pub fn new(item: &str, source: &str) -> Self {
        Self { item: item.into(), field: 0, target: source.to_string(), refine: false, cross: "0.8".into(), self_replace: "0.4".into(), blend: String::new(), blend_except: String::new(), reweight: String::new(), prox: String::new(), error: None, from: None }
    }

    /// Whether the field being typed is chosen (the mode, with Space), not typed.
    pub fn on_choice(&self) -> bool {
        self.field == 1
    }

    /// The text of the field being typed; `None` on the mode, which is chosen.
    pub fn field_mut(&mut self) -> Option<&mut String> {
        match self.field {
            0 => Some(&mut self.target),
            2 => Some(&mut self.cross),
            3 => Some(&mut self.self_replace),
            4 => Some(&mut self.blend),
            5 => Some(&mut self.blend_except),
            6 => Some(&mut self.reweight),
            7 => Some(&mut self.prox),
            _ => None,
        }
    }
}
