//! Tokenizer and CLIP text encoder against transformers' numbers on the tiny fixtures.

mod common;
use common::*;
use pivot::sd::config::read_json;
use pivot::sd::source::ModelFiles;
use pivot::sd::text::TextEncoder;
use pivot::sd::tokenizer::ClipTokenizer;
use pivot::sd::{open_weights, StableDiffusion};
use candle_core::{Device, Tensor};

fn prompts() -> Vec<String> {
    let idx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("reference/index.json")).unwrap()).unwrap();
    idx["prompts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()
}

fn ids_of(tok: &ClipTokenizer, prompts: &[String]) -> Vec<Vec<i64>> {
    prompts.iter().map(|p| tok.encode(p).ids.iter().map(|&i| i as i64).collect()).collect()
}

#[test]
fn token_ids_match_with_both_tokenizer_layouts() {
    let want: Vec<Vec<i64>> = get(&reference("text"), "prompt_token_ids").to_vec2().unwrap();
    let tok = model_dir("tiny-sd/tokenizer");
    let a = ClipTokenizer::from_tokenizer_json(&tok.join("tokenizer.json"), None).unwrap();
    let b = ClipTokenizer::from_vocab_merges(&tok.join("vocab.json"), &tok.join("merges.txt"), None).unwrap();
    let builtin = ClipTokenizer::builtin().unwrap();
    let ps = prompts();
    assert_eq!(ps.len(), 6);
    assert_eq!(ids_of(&a, &ps), want, "tokenizer.json");
    assert_eq!(ids_of(&b, &ps), want, "vocab.json + merges.txt");
    assert_eq!(ids_of(&builtin, &ps), want, "built-in");
    assert!(a.encode(&ps[4]).truncated);
}

#[test]
fn sd2_pads_with_exclamation_mark() {
    let files = ModelFiles::discover(&model_dir("tiny-sd2")).unwrap();
    assert_eq!(files.pad_token().unwrap().as_deref(), Some("!"));
    let sd = StableDiffusion::load(&pivot::sd::source::ModelSource::Dir(model_dir("tiny-sd2")), &Device::Cpu).unwrap();
    let want: Vec<Vec<i64>> = get(&reference("sd2"), "prompt_token_ids").to_vec2().unwrap();
    let got = ids_of(&sd.tokenizer, &[prompts()[0].clone(), String::new()]);
    assert_eq!(got, want);
    let ids: Vec<u32> = want.concat().into_iter().map(|i| i as u32).collect();
    let emb = sd.text_encoder.forward(&Tensor::from_vec(ids, (2, 77), &Device::Cpu).unwrap()).unwrap();
    assert_close("sd2 text embeddings", &emb, &get(&reference("sd2"), "prompt_embeds"), 1e-5);
}

#[test]
fn text_embeddings_and_hidden_states_match() {
    let dir = model_dir("tiny-sd");
    let enc = TextEncoder::load(&open_weights(&dir.join("text_encoder/model.safetensors"), &Device::Cpu).unwrap(), &read_json(&dir.join("text_encoder/config.json")).unwrap()).unwrap();
    let text = reference("text");
    let ids = get(&text, "prompt_token_ids").to_dtype(candle_core::DType::U32).unwrap();
    let emb = enc.forward(&ids).unwrap();
    assert_close("prompt_embeds (6 prompts)", &emb, &get(&text, "prompt_embeds"), 1e-5);
    let dbg = reference("debug_text");
    let states = enc.forward_all(&ids.narrow(0, 0, 1).unwrap()).unwrap();
    for (i, state) in states.iter().enumerate().take(3) {
        assert_close(&format!("hidden_states_{i}"), state, &get(&dbg, &format!("hidden_states_{i}")), 1e-5);
    }
}
