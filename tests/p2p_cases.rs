//! Prompt-to-Prompt edits against every reference case: final latents, LocalBlend masks, and
//! the target = source identity.

mod common;
use candle_core::{Device, Tensor};
use common::*;
use pivot::edit::p2p::align::refine_mapper;
use pivot::edit::p2p::blend::LocalBlend;
use pivot::edit::p2p::controller::EditTables;
use pivot::edit::p2p::replace::replacement_mapper;
use pivot::edit::p2p::run::{run_edit, P2pEdit};
use pivot::edit::p2p::tables::{cross_alpha, equalizer, self_steps};
use pivot::edit::sample::NullEmbeddings;
use pivot::sd::schedule::Schedule;
use pivot::sd::source::ModelSource;
use pivot::sd::StableDiffusion;
use pivot::session::manifest::EditSpec;
use pivot::worker::edit_spec::edit_parts;

fn tables(sd: &StableDiffusion, case: &serde_json::Value) -> EditTables {
    let tok = &sd.tokenizer;
    let (src, tgt) = (case["source"].as_str().unwrap(), case["target"].as_str().unwrap());
    let kind = case["kind"].as_str();
    let inner = case["wrap"].as_str().or(kind.filter(|k| *k != "reweight"));
    let cross = case["cross_replace_steps"].as_f64().unwrap_or(0.0);
    let alpha = cross_alpha(tok, tgt, 50, (0.0, cross), &[]).unwrap();
    let steps = self_steps(50, (0.0, case["self_replace_steps"].as_f64().unwrap_or(0.0))).unwrap();
    let replace = (inner == Some("replace")).then(|| replacement_mapper(tok, src, tgt).unwrap());
    let refine = (inner == Some("refine")).then(|| refine_mapper(tok, src, tgt));
    let eq = case["equalizer"].as_object().map(|m| equalizer(tok, tgt, &m.iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap())).collect::<Vec<_>>()).unwrap());
    EditTables::new(&alpha, steps, replace.as_deref(), refine.as_ref().map(|(m, a)| (m.as_slice(), a.as_slice())), eq.as_deref(), &Device::Cpu).unwrap()
}

#[test]
fn every_reference_edit_reproduces_its_latents() {
    let sd = StableDiffusion::load(&ModelSource::Dir(model_dir("tiny-sd")), &Device::Cpu).unwrap();
    let s = Schedule::new(&sd.scheduler, 50).unwrap();
    let text = std::fs::read_to_string(fixtures().join("reference/p2p/cases.json")).unwrap().replace(": Infinity", ": null");
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let common = candle_core::safetensors::load(fixtures().join("reference/p2p/common.safetensors"), &Device::Cpu).unwrap();
    let x_t = common["x_T"].clone();
    let opt = common["uncond_embeds_opt"].clone();
    let nti: Vec<Tensor> = (0..50).map(|i| opt.narrow(0, i, 1).unwrap()).collect();
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let t = candle_core::safetensors::load(fixtures().join("reference/p2p").join(case["file"].as_str().unwrap()), &Device::Cpu).unwrap();
        let (src, tgt) = (t["src_embeds"].clone(), t["tgt_embeds"].clone());
        let nulls = if case["nulls"].as_str().unwrap().contains("NPI") { NullEmbeddings::Fixed(&src) } else { NullEmbeddings::PerStep(&nti) };
        // The blend as the product builds it from the edit's words, its rows exactly the reference's.
        let blend = case["blend_threshold"].as_f64().map(|th| {
            let words = case["blend_words"].as_array().unwrap().iter().map(|w| w["word"].as_str().unwrap().to_string()).collect::<Vec<_>>();
            let spec = EditSpec { target: case["target"].as_str().unwrap().into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some([words[0].clone(), words[1].clone()]), blend_threshold: th, reweight: vec![], prox: None, blend_except: None };
            let b = edit_parts(&sd, &spec, case["source"].as_str().unwrap(), 50, "null-text").unwrap().blend;
            let b = b.expect("a blend");
            assert_eq!(max_abs_diff(&b.alpha_layers, &t["blend_alpha_layers"]), 0.0, "{name}: blend word rows");
            b
        });
        let edit = P2pEdit { unet: &sd.unet, schedule: &s, source: &src, target: &tgt, nulls, guidance: 7.5, tables: tables(&sd, case), blend: blend.clone(), offsets: None, prox: None };
        // Every step's latents follow the reference's (a blend starting a step early or late shows here).
        let mut steps = Vec::new();
        let (latents, controller) = run_edit(&edit, &x_t, &mut |i, l| steps.push((i, l.clone()))).unwrap();
        assert_close(&format!("{name}: final latents"), &latents, &t["final_latents"], 1e-3);
        for (i, l) in &steps {
            assert_close(&format!("{name}: latents after step {i}"), l, &t["latents_traj"].get(*i).unwrap(), 1e-3);
        }
        // Decoded rows within one grey level on average of the reference PNGs.
        let decoded = sd.vae.decode(&latents).unwrap();
        for (row, png) in case["pngs"].as_array().unwrap().iter().enumerate() {
            let got = pivot::sd::image::from_tensor(&decoded.get(row).unwrap()).unwrap();
            let want = image::open(fixtures().join("reference/p2p").join(png.as_str().unwrap())).unwrap().to_rgb8();
            let mean: f64 = got.as_raw().iter().zip(want.as_raw()).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum::<f64>() / got.as_raw().len() as f64;
            assert!(mean <= 1.0, "{name} row {row}: mean |diff| {mean} grey levels");
        }
        let kinds = |k| controller.store.iter().filter(|s| s.place.kind == k && s.place.level >= 1).count();
        assert!(kinds(pivot::sd::unet::AttnKind::SelfAttn) == 0 && kinds(pivot::sd::unet::AttnKind::Cross) > 0, "{name}: the store holds the cross maps of levels ≥ 1 only");
        if let Some(b) = &blend {
            // The mask of the last step, from the final store, is exactly the reference's.
            let m = b.mask(49, &controller.store, 16, 16).unwrap().unwrap();
            let want = t["blend_masks"].get(49).unwrap();
            assert_eq!(max_abs_diff(&m, &want), 0.0, "{name}: blend mask");
            let active: Vec<u8> = t["blend_active"].to_dtype(candle_core::DType::U8).unwrap().to_vec1().unwrap();
            for (i, a) in active.iter().enumerate() {
                assert_eq!(b.mask(i, &controller.store, 16, 16).unwrap().is_some(), *a != 0, "{name}: blend active at step {i}");
            }
            for k in 0..5 {
                assert_close(&format!("{name}: level-2 store {k}"), &controller.store.iter().filter(|s| s.place.level == 2 && s.place.kind == pivot::sd::unet::AttnKind::Cross).nth(k).unwrap().sum.reshape((2, 8, 16, 77)).unwrap().reshape((16, 16, 77)).unwrap(), &t[&format!("store_level2_cross_{k}")], 1e-3);
            }
        }
    }
}

#[test]
fn target_equal_to_source_is_untouched_by_every_controller() {
    use pivot::edit::sample::Sampler;
    use pivot::sd::unet::NoHook;
    let sd = StableDiffusion::load(&ModelSource::Dir(model_dir("tiny-sd")), &Device::Cpu).unwrap();
    let steps = 10;
    let s = Schedule::new(&sd.scheduler, steps).unwrap();
    let p = "a colourful test pattern";
    let (emb, _) = sd.encode_prompt(p).unwrap();
    let (empty, _) = sd.encode_prompt("").unwrap();
    let x_t = pivot::sd::rng::Rng::new(5).randn((1, 4, 16, 16), 0.0, 1.0, &Device::Cpu).unwrap();
    let tok = &sd.tokenizer;
    let alpha = cross_alpha(tok, p, steps, (0.0, 1.0), &[]).unwrap();
    let ones = vec![1f32; 77];
    let (rm, ra) = refine_mapper(tok, p, p);
    let replace = replacement_mapper(tok, p, p).unwrap();
    let variants: Vec<(&str, EditTables, Option<LocalBlend>)> = vec![
        ("replace", EditTables::new(&alpha, (0, steps), Some(&replace), None, None, &Device::Cpu).unwrap(), None),
        ("refine", EditTables::new(&alpha, (0, steps), None, Some((&rm, &ra)), None, &Device::Cpu).unwrap(), None),
        ("reweight", EditTables::new(&alpha, (0, steps), None, None, Some(&ones), &Device::Cpu).unwrap(), None),
        ("replace+reweight", EditTables::new(&alpha, (0, steps), Some(&replace), None, Some(&ones), &Device::Cpu).unwrap(), None),
        ("replace+blend", EditTables::new(&alpha, (0, steps), Some(&replace), None, None, &Device::Cpu).unwrap(), {
            let mut rows = vec![0f32; 154];
            rows[4] = 1.0;
            rows[77 + 4] = 1.0;
            Some(LocalBlend::new(Tensor::from_vec(rows, (2, 77), &Device::Cpu).unwrap(), 0.3, steps))
        }),
    ];
    let plain = Sampler { unet: &sd.unet, schedule: &s, cond: &emb, null: NullEmbeddings::Fixed(&empty), guidance: 7.5, eta: 0.0, offsets: None };
    let recon = plain.run(&x_t, &mut NoHook, None, &mut |_, _| Ok(None)).unwrap();
    for (name, tables, blend) in variants {
        let e = P2pEdit { unet: &sd.unet, schedule: &s, source: &emb, target: &emb, nulls: NullEmbeddings::Fixed(&empty), guidance: 7.5, tables, blend, offsets: None, prox: None };
        let (lat, _) = run_edit(&e, &x_t, &mut |_, _| {}).unwrap();
        assert_eq!(max_abs_diff(&lat.get(0).unwrap(), &lat.get(1).unwrap()), 0.0, "{name}: target row = source row");
        assert_close(&format!("{name}: source row vs reconstruction"), &lat.narrow(0, 0, 1).unwrap(), &recon, 1e-3);
    }
}
