//! Prompt-to-Prompt pieces exact against the reference cases: token indices, replacement mapper,
//! refinement aligner, α tables, self-step ranges, equalizers.

mod common;
use candle_core::Device;
use common::*;
use pivot::edit::p2p::align::refine_mapper;
use pivot::edit::p2p::replace::replacement_mapper;
use pivot::edit::p2p::tables::{cross_alpha, equalizer, self_steps};
use pivot::edit::p2p::words::{word_token_indices, Word};
use pivot::sd::tokenizer::ClipTokenizer;
use std::collections::HashMap;

fn tokenizer() -> ClipTokenizer {
    let t = model_dir("tiny-sd/tokenizer");
    ClipTokenizer::from_vocab_merges(&t.join("vocab.json"), &t.join("merges.txt"), None).unwrap()
}

fn case_tensors(file: &str) -> HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(fixtures().join("reference/p2p").join(file), &Device::Cpu).unwrap()
}

fn flat_f32(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_dtype(candle_core::DType::F32).unwrap().to_vec1().unwrap()
}

#[test]
fn every_reference_case_piece_matches() {
    let tok = tokenizer();
    // Python's json writes `Infinity` (one PSNR of an identical pair); JSON proper has no such token.
    let text = std::fs::read_to_string(fixtures().join("reference/p2p/cases.json")).unwrap().replace(": Infinity", ": null");
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (src, tgt) = (case["source"].as_str().unwrap(), case["target"].as_str().unwrap());
        let t = case_tensors(case["file"].as_str().unwrap());
        let ids = |p: &str| tok.encode(p).ids.iter().map(|&i| i as i64).collect::<Vec<_>>();
        assert_eq!(ids(src), t["src_token_ids"].to_vec1::<i64>().unwrap(), "{name}: source ids");
        assert_eq!(ids(tgt), t["tgt_token_ids"].to_vec1::<i64>().unwrap(), "{name}: target ids");
        for (word, rows) in case["word_token_indices"].as_object().unwrap() {
            for (side, prompt) in [("src", src), ("tgt", tgt)] {
                let want: Vec<usize> = rows[side].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
                assert_eq!(word_token_indices(&tok, prompt, Word::Text(word)), want, "{name}: {side} indices of {word}");
            }
        }
        if let Some(m) = t.get("replace_mapper") {
            assert_eq!(replacement_mapper(&tok, src, tgt).unwrap(), flat_f32(m), "{name}: replacement mapper");
        }
        if let Some(m) = t.get("refine_mapper") {
            let (mapper, alphas) = refine_mapper(&tok, src, tgt);
            assert_eq!(mapper, m.flatten_all().unwrap().to_vec1::<i64>().unwrap(), "{name}: refine mapper");
            assert_eq!(alphas, flat_f32(&t["refine_alphas"]), "{name}: refine alphas");
        }
        if let Some(a) = t.get("cross_alpha") {
            let f = case["cross_replace_steps"].as_f64().unwrap();
            assert_eq!(cross_alpha(&tok, tgt, 50, (0.0, f), &[]).unwrap(), flat_f32(a), "{name}: cross alpha");
            let s = case["self_replace_steps"].as_f64().unwrap();
            let (s0, s1) = self_steps(50, (0.0, s)).unwrap();
            assert_eq!(vec![s0 as i64, s1 as i64], t["self_steps"].to_vec1::<i64>().unwrap(), "{name}: self steps");
        }
        if let Some(e) = t.get("equalizer") {
            let eq: Vec<(String, f64)> = case["equalizer"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap())).collect();
            assert_eq!(equalizer(&tok, tgt, &eq).unwrap(), flat_f32(e), "{name}: equalizer");
        }
        checked += 1;
    }
    assert_eq!(checked, 11);
}

#[test]
fn spec_examples_and_errors() {
    let tok = tokenizer();
    let (mapper, alphas) = refine_mapper(&tok, "a cat sitting next to a mirror", "a silver cat sculpture sitting next to a mirror");
    assert_eq!(&mapper[..13], &[0, 1, -1, 2, -1, 3, 4, 5, 6, 7, 8, 11, 12]);
    assert_eq!(&alphas[..6], &[1.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    assert_eq!(word_token_indices(&tok, "a cat sitting next to a mirror", Word::Text("a")), vec![1, 6]);
    let e = replacement_mapper(&tok, "a cat", "a big cat").unwrap_err().to_string();
    assert!(e.contains("refine"), "{e}");
    // A swap whose changed word CLIP never reads would change nothing.
    let long = "word ".repeat(80);
    let e = replacement_mapper(&tok, &format!("{long}cat"), &format!("{long}dog")).unwrap_err().to_string();
    assert!(e.contains("(dog)") && e.contains("75 tokens"), "{e}");
    assert!(cross_alpha(&tok, "a cat", 50, (0.0, 1.5), &[]).is_err());
    assert!(self_steps(50, (0.6, 0.2)).is_err());
    assert!(equalizer(&tok, "a cat", &[("dog".into(), 2.0)]).unwrap_err().to_string().contains("not a word"));
    // Extra spaces are not words (CLIP ignores them), and a word matches whatever its case.
    assert_eq!(word_token_indices(&tok, " a  cat sitting ", Word::Text("cat")), vec![2]);
    assert_eq!(word_token_indices(&tok, "A CAT sitting", Word::Text("cat")), vec![2]);
    assert!(replacement_mapper(&tok, "a  cat sitting", "a dog sitting ").is_ok());
    // A word after CLIP's 75 tokens is named as such.
    let long = format!("{} wolf", vec!["cat"; 80].join(" "));
    let e = equalizer(&tok, &long, &[("wolf".into(), 2.0)]).unwrap_err().to_string();
    assert!(e.contains("after CLIP's 75 tokens"), "{e}");
    // Cross-attention spans per word: 0.2 on "tiger" = rows 0..9 on its column only.
    let a = cross_alpha(&tok, "a tiger sitting", 50, (0.0, 0.8), &[("tiger".into(), (0.0, 0.2))]).unwrap();
    assert_eq!((a[9 * 77 + 2], a[10 * 77 + 2], a[10 * 77 + 1], a[40 * 77 + 1]), (1.0, 0.0, 1.0, 0.0));
}
