//! The losses of an inversion file without the rest: the dashboard shows them for whichever item
//! is selected, and a whole SD1.5 file (15 MB, mostly embeddings and latents) read and checked
//! on every move of the selection cost a full read each and held it in memory. Only the header
//! and the two small tensors are read; damage elsewhere in the file is the worker's to find.

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// A safetensors header larger than this is not pivot's (its header is a few kilobytes).
const MAX_HEADER: u64 = 1 << 24;

/// Inner losses of the finished timesteps (NaN = not run) and their iteration counts, as
/// [`super::inversion_file::InversionFile::finished_losses`] gives them.
pub fn finished_losses(path: &Path) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let size = f.metadata()?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).context("shorter than a safetensors header")?;
    let n = u64::from_le_bytes(len);
    ensure!(n <= MAX_HEADER && 8 + n <= size, "its safetensors header claims {n} bytes of a {size}-byte file");
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)?;
    let header: Value = serde_json::from_slice(&header).context("unreadable safetensors header")?;
    let completed: usize = match header.pointer("/__metadata__/completed_steps").and_then(Value::as_str) {
        Some(k) => k.parse().context("metadata `completed_steps` is not a number")?,
        None => header.pointer("/__metadata__/steps").and_then(Value::as_str).context("metadata has no `steps`")?.parse().context("metadata `steps` is not a number")?,
    };
    let mut tensor = |name: &str| -> Result<(String, Vec<usize>, Vec<u8>)> {
        let t = header.get(name).with_context(|| format!("no `{name}` tensor"))?;
        let dtype = t.get("dtype").and_then(Value::as_str).unwrap_or_default().to_string();
        let shape: Vec<usize> = t.get("shape").and_then(Value::as_array).map(|s| s.iter().filter_map(Value::as_u64).map(|d| d as usize).collect()).unwrap_or_default();
        let offsets: Vec<u64> = t.get("data_offsets").and_then(Value::as_array).map(|s| s.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
        let [a, b] = offsets[..] else { bail!("`{name}` has no data offsets") };
        // Offsets from a file from elsewhere are checked before anything is allocated for them.
        let end = b.checked_add(8 + n).filter(|&e| a <= b && e <= size);
        ensure!(end.is_some(), "`{name}` lies outside the file ({size} bytes)");
        let mut data = vec![0u8; (b - a) as usize];
        f.seek(SeekFrom::Start(8 + n + a))?;
        f.read_exact(&mut data)?;
        Ok((dtype, shape, data))
    };
    let (dtype, shape, data) = tensor("losses")?;
    let [t, inner] = shape[..] else { bail!("`losses` has shape {shape:?}, expected [T, N]") };
    ensure!(dtype == "F32" && t.checked_mul(inner).and_then(|v| v.checked_mul(4)) == Some(data.len()), "`losses` is {dtype} {shape:?} in {} bytes, expected F32", data.len());
    let values: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let (dtype, shape, data) = tensor("iterations")?;
    let width = match dtype.as_str() {
        "I64" => 8,
        "I32" => 4,
        _ => bail!("`iterations` is {dtype}, expected I64"),
    };
    ensure!(shape == [t] && t.checked_mul(width) == Some(data.len()), "`iterations` has shape {shape:?}, expected [{t}]");
    let iterations = data.chunks_exact(width).map(|c| if width == 8 { i64::from_le_bytes(c.try_into().expect("8 bytes")) } else { i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))) });
    ensure!(completed <= t, "completed_steps {completed} is more than the {t} steps");
    let rows = values.chunks(inner.max(1)).take(completed).map(<[f32]>::to_vec).collect();
    Ok((rows, iterations.take(completed).map(|i| i.max(0) as usize).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same numbers as the whole file's reading, for a finished and an unfinished file.
    #[test]
    fn reads_what_the_whole_file_says() {
        let dir = tempfile::tempdir().unwrap();
        let finished = crate::session::inversion_file::tests::sample();
        let mut unfinished = crate::session::inversion_file::tests::sample();
        unfinished.completed = 1;
        unfinished.null_embeddings = unfinished.null_embeddings.narrow(0, 0, 1).unwrap();
        unfinished.current_latent = Some(unfinished.latents.narrow(0, 1, 1).unwrap());
        for (k, file) in [finished, unfinished].into_iter().enumerate() {
            let path = dir.path().join(format!("f{k}.safetensors"));
            file.save(&path).unwrap();
            let (a, b) = finished_losses(&path).unwrap();
            let (c, d) = file.finished_losses().unwrap();
            assert_eq!(b, d);
            assert_eq!(format!("{a:?}"), format!("{c:?}"), "NaN included");
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..100]).unwrap();
            assert!(finished_losses(&path).is_err(), "a truncated file is refused");
        }
        std::fs::write(dir.path().join("junk"), b"not a safetensors file at all").unwrap();
        assert!(finished_losses(&dir.path().join("junk")).is_err());
        // Offsets and shapes a hostile file could give: refused, never allocated or wrapped.
        for (offsets, shape) in [("[0, 18446744073709551600]", "[2, 2]"), ("[4611686018427387904, 18446744073709551600]", "[2, 2]"), ("[0, 16]", "[4611686018427387904, 8]")] {
            let json = format!(r#"{{"__metadata__":{{"steps":"2"}},"losses":{{"dtype":"F32","shape":{shape},"data_offsets":{offsets}}}}}"#);
            let bytes = [&(json.len() as u64).to_le_bytes()[..], json.as_bytes(), &[0u8; 16]].concat();
            std::fs::write(dir.path().join("hostile"), bytes).unwrap();
            assert!(finished_losses(&dir.path().join("hostile")).is_err(), "{offsets} {shape}");
        }
    }
}
