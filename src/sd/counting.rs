//! A weight backend wrapper that records what a model actually loads: the parameter count, and
//! the tensor names, so weights the config leaves unused can be named.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// What a model took from its weights.
#[derive(Default, Debug)]
pub struct Taken {
    /// Elements of every tensor loaded.
    pub params: usize,
    pub names: BTreeSet<String>,
}

pub struct Counting {
    inner: Box<dyn SimpleBackend>,
    taken: Arc<Mutex<Taken>>,
}

impl Counting {
    /// Wrap `inner`; the returned record grows with every tensor as it is loaded.
    pub fn wrap(inner: Box<dyn SimpleBackend>, dtype: DType, dev: &Device) -> (VarBuilder<'static>, Arc<Mutex<Taken>>) {
        let taken = Arc::new(Mutex::new(Taken::default()));
        let vb = VarBuilder::from_backend(Box::new(Self { inner, taken: taken.clone() }), dtype, dev.clone());
        (vb, taken)
    }

    fn add(&self, name: &str, t: &Tensor) {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        if taken.names.insert(name.to_string()) {
            taken.params += t.elem_count();
        }
    }
}

impl SimpleBackend for Counting {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self.inner.get(s, name, h, dtype, dev)?;
        self.add(name, &t);
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self.inner.get_unchecked(name, dtype, dev)?;
        self.add(name, &t);
        Ok(t)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}

/// Tensors of `in_file` the model did not take, as a few name groups ("mid_block.*") and their
/// count; buffers transformers saves beside the weights (`position_ids`) do not count.
pub fn unused(in_file: impl IntoIterator<Item = String>, taken: &Taken) -> Option<(usize, Vec<String>)> {
    let left: Vec<String> = in_file.into_iter().filter(|n| !taken.names.contains(n) && !n.ends_with("position_ids")).collect();
    if left.is_empty() {
        return None;
    }
    let group = |n: &str| {
        let parts: Vec<&str> = n.split('.').collect();
        // Up to the first index ("down_blocks.2", "text_model.encoder.layers.1"), else two parts.
        let upto = parts.iter().position(|p| p.parse::<usize>().is_ok()).map_or(2, |i| i + 1).min(parts.len());
        parts[..upto].join(".") + if upto < parts.len() { ".*" } else { "" }
    };
    let groups: BTreeSet<String> = left.iter().map(|n| group(n)).collect();
    Some((left.len(), groups.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_tensors_are_grouped_and_buffers_ignored() {
        let taken = Taken { params: 0, names: ["a.0.w", "b.w"].iter().map(|s| s.to_string()).collect() };
        let file = ["a.0.w", "b.w", "mid_block.attentions.0.x", "mid_block.attentions.0.y", "mid_block.resnets.1.z", "bogus.weight", "text_model.embeddings.position_ids"];
        let (n, groups) = unused(file.iter().map(|s| s.to_string()), &taken).unwrap();
        assert_eq!(n, 4);
        assert_eq!(groups, ["bogus.weight", "mid_block.attentions.0.*", "mid_block.resnets.1.*"]);
        assert!(unused(["a.0.w".to_string()], &taken).is_none());
    }
}
