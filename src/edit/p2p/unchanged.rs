//! An edit whose picture came out as the reconstruction: said, with the likely reason, since a
//! mask that let nothing through or guidance shrunk to nothing looks like a silent failure.

use candle_core::{Result, Tensor};

/// For decoded `[source, target]` rows in [-1, 1], a warning when the target's picture is the
/// source's to the 8-bit level (every pixel within half a step of 255).
pub fn unchanged_warning(decoded: &Tensor, blend: bool, prox: bool) -> Result<Option<String>> {
    let diff = (decoded.get(1)? - decoded.get(0)?)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
    // [-1, 1] spans 255 steps: half a step is 1/255.
    if diff >= 1.0 / 255.0 {
        return Ok(None);
    }
    let why = match (blend, prox) {
        (true, _) => "its blend mask let no place change: lower the blend threshold, or check the blend-except words",
        (false, true) => "proximal guidance left no difference between the prompts: lower the proximal quantile",
        (false, false) => "the target changes nothing the model draws here: change more words, or re-weight one",
    };
    Ok(Some(format!("the edit came out the same as the reconstruction: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_target_row_equal_to_the_source_row_is_named_with_its_cause() {
        let same = Tensor::zeros((2, 3, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(unchanged_warning(&same, true, false).unwrap().unwrap().contains("blend mask let no place change"));
        assert!(unchanged_warning(&same, false, true).unwrap().unwrap().contains("proximal quantile"));
        let moved = Tensor::cat(&[same.get(0).unwrap().unsqueeze(0).unwrap(), (same.get(1).unwrap() + 0.01).unwrap().unsqueeze(0).unwrap()], 0).unwrap();
        assert_eq!(unchanged_warning(&moved, true, false).unwrap(), None);
    }
}
