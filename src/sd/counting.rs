//! A weight backend wrapper that counts the parameters a model actually loads.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Counting {
    inner: Box<dyn SimpleBackend>,
    count: Arc<AtomicUsize>,
}

impl Counting {
    /// Wrap `inner`; the returned counter grows by every tensor's element count as it is loaded.
    pub fn wrap(inner: Box<dyn SimpleBackend>, dtype: DType, dev: &Device) -> (VarBuilder<'static>, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let vb = VarBuilder::from_backend(Box::new(Self { inner, count: count.clone() }), dtype, dev.clone());
        (vb, count)
    }

    fn add(&self, t: &Tensor) {
        self.count.fetch_add(t.elem_count(), Ordering::Relaxed);
    }
}

impl SimpleBackend for Counting {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self.inner.get(s, name, h, dtype, dev)?;
        self.add(&t);
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self.inner.get_unchecked(name, dtype, dev)?;
        self.add(&t);
        Ok(t)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}
