//! The Prompt-to-Prompt attention controller (§4.1–4.3, §P.4–5) for a `[source, target]` batch:
//! edits the conditional half only, stores post-edit maps, and is rebuilt for every edit.

use crate::sd::unet::{AttentionHook, AttnKind, AttnPlace};
use candle_core::{DType, Device, Result, Tensor};

/// How the target's cross-attention is derived from the source's.
#[derive(Clone, Debug)]
pub enum CrossEdit {
    /// Prompt swap without attention control (only the store runs).
    None,
    /// Word swap: `source_maps · M`, M `[77, 77]`.
    Replace(Tensor),
    /// Refinement: source columns `mapper[j]` blended with the target's own by `alphas[j]`.
    Refine { mapper: Tensor, alphas: Tensor },
}

/// Everything an edit's controller needs, built from the prompts by `p2p::{replace, align, tables}`.
#[derive(Clone, Debug)]
pub struct EditTables {
    pub cross: CrossEdit,
    /// Re-weighting `[77]` applied on top of `cross` (or of the source maps when `cross` is None).
    pub equalizer: Option<Tensor>,
    /// `[(T + 1), 77]` cross-replacement α per step.
    pub cross_alpha: Tensor,
    /// Self-attention replacement steps `[s0, s1)` (levels ≥ 1 only).
    pub self_steps: (usize, usize),
}

impl EditTables {
    /// Tables from host vectors (see `p2p::tables`); `refine` mapper −1 reads column 76 (weight 0).
    pub fn new(cross_alpha: &[f32], self_steps: (usize, usize), replace: Option<&[f32]>, refine: Option<(&[i64], &[f32])>, equalizer: Option<&[f32]>, dev: &Device) -> Result<Self> {
        let n = 77;
        let cross = match (replace, refine) {
            (Some(m), _) => CrossEdit::Replace(Tensor::from_slice(m, (n, n), dev)?),
            (None, Some((mapper, alphas))) => {
                let idx: Vec<u32> = mapper.iter().map(|&m| if m < 0 { (n - 1) as u32 } else { m as u32 }).collect();
                CrossEdit::Refine { mapper: Tensor::from_vec(idx, n, dev)?, alphas: Tensor::from_slice(alphas, n, dev)? }
            }
            _ => CrossEdit::None,
        };
        let rows = cross_alpha.len() / n;
        Ok(Self {
            cross,
            equalizer: equalizer.map(|e| Tensor::from_slice(e, n, dev)).transpose()?,
            cross_alpha: Tensor::from_slice(cross_alpha, (rows, n), dev)?,
            self_steps,
        })
    }

    /// Whether any attention is edited at all (a plain prompt swap otherwise).
    pub fn edits(&self) -> bool {
        !matches!(self.cross, CrossEdit::None) || self.equalizer.is_some()
    }
}

/// A stored running sum of one cross-attention layer's post-edit conditional maps
/// `[2·heads, N, 77]`.
#[derive(Clone, Debug)]
pub struct StoredMap {
    pub place: AttnPlace,
    pub sum: Tensor,
}

pub struct Controller {
    tables: EditTables,
    step: usize,
    /// Index of the next attention call within the current step.
    layer: usize,
    /// Running sums of the post-edit cross-attention maps of levels ≥ 1, in forward order (what
    /// LocalBlend and `pivot attention` read; the reference also sums self-attention maps,
    /// which nothing here reads, so they are neither summed nor even made outside the steps
    /// whose self-attention is replaced).
    pub store: Vec<StoredMap>,
    /// Steps summed into `store`.
    pub stored_steps: usize,
}

impl Controller {
    pub fn new(tables: EditTables) -> Self {
        Self { tables, step: 0, layer: 0, store: Vec::new(), stored_steps: 0 }
    }

    /// Whether this step replaces the target's self-attention maps by the source's.
    fn replaces_self(&self) -> bool {
        (self.tables.self_steps.0..self.tables.self_steps.1).contains(&self.step)
    }

    fn cross_target(&self, base: &Tensor, rep: &Tensor) -> Result<Tensor> {
        // base, rep: [heads, N, 77]
        let mapped = match &self.tables.cross {
            CrossEdit::None => base.clone(),
            CrossEdit::Replace(m) => base.broadcast_matmul(m)?,
            CrossEdit::Refine { mapper, alphas } => {
                let picked = base.index_select(mapper, 2)?;
                (picked.broadcast_mul(alphas)? + rep.broadcast_mul(&(1.0 - alphas)?)?)?
            }
        };
        match &self.tables.equalizer {
            Some(e) => mapped.broadcast_mul(e),
            None => Ok(mapped),
        }
    }

    fn edit(&self, place: &AttnPlace, cond: &Tensor) -> Result<Tensor> {
        let heads = place.heads;
        let (base, rep) = (cond.narrow(0, 0, heads)?, cond.narrow(0, heads, heads)?);
        let new_rep = match place.kind {
            AttnKind::Cross if self.tables.edits() => {
                let alpha = self.tables.cross_alpha.get(self.step.min(self.tables.cross_alpha.dim(0)? - 1))?;
                let edited = self.cross_target(&base, &rep)?;
                (edited.broadcast_mul(&alpha)? + rep.broadcast_mul(&(1.0 - &alpha)?)?)?
            }
            AttnKind::SelfAttn if place.level >= 1 && self.replaces_self() => base.clone(),
            _ => return Ok(cond.clone()),
        };
        Tensor::cat(&[&base, &new_rep], 0)
    }
}

impl AttentionHook for Controller {
    /// Cross-attention maps are edited and stored; self-attention maps only matter at levels ≥ 1
    /// in the steps where they are replaced (elsewhere a fused kernel need not make them).
    fn observes(&self, place: &AttnPlace) -> bool {
        match place.kind {
            AttnKind::Cross => true,
            AttnKind::SelfAttn => place.level >= 1 && self.replaces_self(),
        }
    }

    fn begin_step(&mut self, step: usize) {
        self.step = step;
        self.layer = 0;
        self.stored_steps = step + 1;
    }

    fn attention(&mut self, place: &AttnPlace, probs: Tensor) -> Result<Tensor> {
        let rows = probs.dim(0)?;
        if rows != 4 * place.heads {
            candle_core::bail!("the P2P controller expects a [source, target] batch with guidance (4·heads rows), got {rows}");
        }
        let half = rows / 2;
        let uncond = probs.narrow(0, 0, half)?;
        let cond = self.edit(place, &probs.narrow(0, half, half)?)?;
        // Unobserved layers still come here on devices without the fused kernel: only cross
        // maps are counted, so each step's store order is the same.
        if place.level >= 1 && place.kind == AttnKind::Cross {
            let maps = cond.to_dtype(DType::F32)?.detach();
            match self.store.get_mut(self.layer) {
                Some(s) if self.step > 0 => s.sum = (&s.sum + &maps)?,
                Some(s) => s.sum = maps,
                None => self.store.push(StoredMap { place: *place, sum: maps }),
            }
            self.layer += 1;
        }
        Tensor::cat(&[&uncond, &cond], 0)
    }
}
