//! Tests of [`super`] (inversion_file.rs), kept apart so that the code stays short.

use super::*;

pub(crate) fn sample() -> InversionFile {
    let dev = Device::Cpu;
    InversionFile {
        meta: InversionMeta { prompt: "a cat".into(), model: "tiny".into(), model_hash: "tiny-0".into(), method: "null-text".into(), guidance: 7.5, inner_steps: 10, epsilon: 1e-5, fixed_point: 0 },
        latents: Tensor::arange(0f32, 3.0 * 4.0 * 4.0, &dev).unwrap().reshape((3, 4, 2, 2)).unwrap(),
        null_embeddings: Tensor::ones((2, 77, 8), DType::F32, &dev).unwrap(),
        losses: Tensor::new(&[[1e-5f32, f32::NAN], [2e-5, 3e-5]], &dev).unwrap(),
        iterations: vec![1, 2],
        timesteps: vec![501, 1],
        completed: 2,
        current_latent: None,
        offsets: None,
    }
}

#[test]
fn an_empty_file_and_model_weights_are_named_as_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let e = format!("{:#}", InversionFile::load(&empty, &Device::Cpu).unwrap_err());
    assert!(e.contains("is empty (0 bytes)"), "{e}");
    let weights = dir.path().join("vae.safetensors");
    let w = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(&HashMap::from([("decoder.conv_in.weight".to_string(), w)]), &weights).unwrap();
    let e = format!("{:#}", InversionFile::load(&weights, &Device::Cpu).unwrap_err());
    assert!(e.contains("a safetensors file of 1 tensor without pivot's metadata: not an inversion (model weights?)"), "{e}");
}

#[test]
fn an_inversion_with_nan_latents_is_neither_saved_nor_read() {
    let mut f = sample();
    f.latents = (f.latents.clone() * f64::NAN).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.safetensors");
    let e = f.save(&p).unwrap_err().to_string();
    assert!(e.contains("latents are not finite") && e.contains("was not written") && !p.exists(), "{e}");
    let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
    assert!(e.contains("latents contain NaN"), "{e}");
}

#[test]
fn a_direct_inversion_keeps_its_offsets_and_is_format_2() {
    let mut f = sample();
    f.meta.method = "direct".into();
    let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
    assert!(e.contains("a Direct Inversion without its `offsets`"), "{e}");
    f.offsets = Some(Tensor::arange(0f32, 2.0 * 4.0 * 4.0, &Device::Cpu).unwrap().reshape((2, 4, 2, 2)).unwrap());
    let bytes = f.to_bytes().unwrap();
    assert!(bytes.windows(20).any(|w| w == b"\"format_version\":\"2\""), "a file older pivots cannot use says so");
    let g = InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap();
    let rows = g.source_offsets().unwrap().unwrap();
    assert_eq!((rows.len(), rows[1].dims()), (2, &[1usize, 4, 2, 2][..]));
    assert_eq!(rows[1].flatten_all().unwrap().to_vec1::<f32>().unwrap(), (16..32).map(|v| v as f32).collect::<Vec<_>>());
    f.offsets = Some(Tensor::zeros((3, 4, 2, 2), DType::F32, &Device::Cpu).unwrap());
    let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
    assert!(e.contains("do not hold 2 latents"), "{e}");
    f.meta.method = "ddim".into();
    let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
    assert!(e.contains("not a Direct Inversion"), "{e}");
}

/// The fixed-point count is kept, and written only when used (a plain inversion's file stays
/// what older pivots wrote and read).
#[test]
fn fixed_point_iterations_are_kept_and_absent_when_none() {
    let mut f = sample();
    let plain = f.to_bytes().unwrap();
    assert!(!plain.windows(11).any(|w| w == b"fixed_point"));
    assert_eq!(InversionFile::from_bytes(&plain, &Device::Cpu).unwrap().meta.fixed_point, 0);
    f.meta.fixed_point = 3;
    assert_eq!(InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap().meta.fixed_point, 3);
}

#[test]
fn a_photo_given_as_an_inversion_is_named_as_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cat.safetensors");
    std::fs::write(&path, crate::session::testing::png(9)).unwrap();
    let e = format!("{:#}", InversionFile::load(&path, &Device::Cpu).unwrap_err());
    assert!(e.contains("is a picture (Png), not an inversion file: `pivot invert") && !e.contains("corrupt"), "{e}");
}

#[test]
fn a_damaged_header_names_its_fault_once() {
    let json = br#"{"x":{"shape":[1],"data_offsets":[0,4]}}"#;
    let bytes = [&(json.len() as u64).to_le_bytes()[..], json, &[0u8; 4]].concat();
    let e = format!("{:#}", InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap_err());
    assert_eq!(e.matches("missing field").count(), 1, "{e}");
    assert!(e.starts_with("unreadable safetensors header"), "{e}");
}

#[test]
fn round_trip_is_exact_and_newer_versions_are_refused() {
    let f = sample();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inv.safetensors");
    f.save(&p).unwrap();
    let g = InversionFile::load(&p, &Device::Cpu).unwrap();
    assert_eq!(g.meta, f.meta);
    assert_eq!(g.iterations, f.iterations);
    assert_eq!(g.timesteps, f.timesteps);
    assert_eq!(g.latents.flatten_all().unwrap().to_vec1::<f32>().unwrap(), f.latents.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    let bytes = f.to_bytes().unwrap();
    let key = b"\"format_version\":\"1\"";
    let at = bytes.windows(key.len()).position(|w| w == key).expect("version in header");
    let mut newer = bytes.clone();
    newer[at + key.len() - 2] = b'9';
    let e = format!("{:#}", InversionFile::from_bytes(&newer, &Device::Cpu).unwrap_err());
    assert!(e.contains("format_version 9"), "{e}");
    let e = format!("{:#}", InversionFile::from_bytes(&bytes[..bytes.len() / 2], &Device::Cpu).unwrap_err());
    assert!(e.contains("truncated") || e.contains("unreadable"), "{e}");
}

#[test]
fn flipped_bytes_and_edited_metadata_are_damage() {
    let bytes = sample().to_bytes().unwrap();
    InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap();
    let mut flipped = bytes.clone();
    let at = bytes.len() - 20;
    flipped[at] ^= 0x10;
    let e = format!("{:#}", InversionFile::from_bytes(&flipped, &Device::Cpu).unwrap_err());
    assert!(e.contains("damaged"), "{e}");
    let mut edited = bytes.clone();
    let at = bytes.windows(5).position(|w| w == b"a cat").expect("prompt in header");
    edited[at..at + 5].copy_from_slice(b"a dog");
    let e = format!("{:#}", InversionFile::from_bytes(&edited, &Device::Cpu).unwrap_err());
    assert!(e.contains("damaged"), "{e}");
}

#[test]
fn a_prompt_that_spells_the_checksum_entry_is_kept_and_checked() {
    let mut f = sample();
    f.meta.prompt = r#"a cat "checksum":"0000000000000000" x"#.into();
    let bytes = f.to_bytes().unwrap();
    assert_eq!(InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap().meta, f.meta);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_ne!(header.metadata().as_ref().unwrap()[CHECKSUM], "0".repeat(16), "the placeholder was written over");
}

#[test]
fn files_without_a_checksum_are_still_read_but_not_an_unknown_method() {
    let f = sample();
    let strip = |f: &InversionFile, method: &str| {
        let map = candle_core::safetensors::load_buffer(&f.to_bytes().unwrap(), &Device::Cpu).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&f.to_bytes().unwrap()).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        meta.remove(CHECKSUM);
        meta.insert("method".into(), method.into());
        let mut names: Vec<_> = map.keys().cloned().collect();
        names.sort();
        safetensors::serialize(names.iter().map(|k| (k.as_str(), &map[k])), Some(meta)).unwrap()
    };
    let g = InversionFile::from_bytes(&strip(&f, "null-text"), &Device::Cpu).unwrap();
    assert_eq!(g.meta, f.meta);
    let e = format!("{:#}", InversionFile::from_bytes(&strip(&f, "magic"), &Device::Cpu).unwrap_err());
    assert!(e.contains("magic"), "{e}");
}

#[test]
fn a_checkpoint_keeps_its_first_rows_and_the_current_latent() {
    let dev = Device::Cpu;
    let mut f = sample();
    f.null_embeddings = f.null_embeddings.narrow(0, 0, 1).unwrap();
    f.completed = 1;
    let z = Tensor::full(0.5f32, (1, 4, 2, 2), &dev).unwrap();
    f.current_latent = Some(z.clone());
    let g = InversionFile::from_bytes(&f.to_bytes().unwrap(), &dev).unwrap();
    assert_eq!((g.completed, g.is_complete(), g.embeddings().unwrap().len()), (1, false, 1));
    let back = g.current_latent.expect("current latent stored").flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(back, z.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    f.current_latent = None;
    let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &dev).unwrap_err());
    assert!(e.contains("current_latent"), "{e}");
}
