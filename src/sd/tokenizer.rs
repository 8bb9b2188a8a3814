//! CLIP byte-level BPE tokenizer (the rules of OpenAI's CLIP / HF `CLIPTokenizer`).
//!
//! Loads either `tokenizer.json` or the `vocab.json` + `merges.txt` pair that real SD repositories
//! ship, pads to 77 with the model's pad token, truncates to BOS + 75 + EOS, and records which token
//! positions each whitespace-separated word of the prompt produced (Prompt-to-Prompt needs them).

use anyhow::{bail, Context, Result};
use regex::Regex;
use std::collections::HashMap;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

pub const MAX_TOKENS: usize = 77;
const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";
const SPLIT: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// The merges of the real CLIP vocabulary, shipped for the built-in `tiny` model.
static BUILTIN_MERGES_GZ: &[u8] = include_bytes!("assets/clip-merges.txt.gz");

/// One word of the prompt and the token positions (into the 77-token sequence) it became.
#[derive(Clone, Debug, PartialEq)]
pub struct WordTokens {
    pub word: String,
    pub positions: Vec<usize>,
    /// Those of `positions` whose piece is punctuation only (`,` `…` `“`; not `'s`, not an emoji).
    pub symbols: Vec<usize>,
}

/// A tokenized prompt.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Exactly 77 ids: BOS, tokens, EOS, padding.
    pub ids: Vec<u32>,
    /// Whitespace-separated words in order; a word cut by truncation keeps only its surviving positions.
    pub words: Vec<WordTokens>,
    /// Number of prompt tokens before truncation (without BOS/EOS).
    pub prompt_tokens: usize,
    pub truncated: bool,
}

impl Encoded {
    /// Ids before the padding: BOS, the prompt's tokens that fit, EOS.
    pub fn real_len(&self) -> usize {
        self.prompt_tokens.min(MAX_TOKENS - 2) + 2
    }

    /// The warning for a `what` ("prompt", "new caption") longer than CLIP reads, if it is.
    pub fn truncation_warning(&self, what: &str) -> Option<String> {
        self.truncated.then(|| format!("the {what} has {} tokens; CLIP reads only the first 75 — the rest is ignored", self.prompt_tokens))
    }
}

pub struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    tokens: Vec<String>,
    ranks: HashMap<(String, String), usize>,
    byte_chars: [char; 256],
    split: Regex,
    /// A piece of punctuation only (Unicode `P`).
    punctuation: Regex,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
}

/// GPT-2/CLIP's reversible map from bytes to printable characters.
fn byte_chars() -> [char; 256] {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = ['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        map[b as usize] = if printable.contains(&b) {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    map
}

/// The vocabulary order of CLIP: byte symbols, byte symbols with `</w>`, merges, specials.
fn byte_order() -> Vec<char> {
    let map = byte_chars();
    let mut order: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    order.extend(0xA1..=0xAC);
    order.extend(0xAE..=0xFF);
    order.extend((0..256u32).filter(|b| !order.contains(b)).collect::<Vec<_>>());
    order.into_iter().map(|b| map[b as usize]).collect()
}

fn parse_merges(text: &str) -> Result<Vec<(String, String)>> {
    let mut merges = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("#version") || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
            _ => bail!("merges line {} is not two symbols: {line:?}", n + 1),
        }
    }
    Ok(merges)
}

/// A vocabulary token no merge makes (beyond the byte symbols and `<|…|>` specials) can never
/// be produced: many of them mean the merges were cut short, and prompts would be read as
/// other tokens than the text encoder was trained on, without an error.
fn unreachable_tokens(vocab: &HashMap<String, u32>, merges: &[(String, String)]) -> Result<()> {
    let made: std::collections::HashSet<String> = merges.iter().map(|(a, b)| format!("{a}{b}")).collect();
    let basic = |t: &str| t.chars().count() == 1 || (t.ends_with("</w>") && t.chars().count() == 5) || (t.starts_with("<|") && t.ends_with("|>"));
    let orphans = vocab.keys().filter(|t| !basic(t) && !made.contains(*t)).count();
    // A few are tolerated: tokens added by hand to a vocabulary are not merges.
    if orphans > 16 {
        bail!("{orphans} of the vocabulary's {} tokens come from no merge ({} merges; CLIP has 48894): the merges are cut short or belong to another tokenizer; copy the model's tokenizer folder again", vocab.len(), merges.len());
    }
    Ok(())
}

impl ClipTokenizer {
    fn build(vocab: HashMap<String, u32>, merges: Vec<(String, String)>, pad_token: Option<&str>) -> Result<Self> {
        let id = |t: &str| vocab.get(t).copied().with_context(|| format!("the vocabulary has no `{t}` token: it is not a CLIP tokenizer's, or it is damaged; copy the model's tokenizer folder again"));
        unreachable_tokens(&vocab, &merges)?;
        let (bos, eos) = (id(BOS)?, id(EOS)?);
        let pad = match pad_token {
            Some(p) => id(p)?,
            None => eos,
        };
        let ranks = merges.into_iter().enumerate().map(|(i, m)| (m, i)).collect();
        let mut tokens = vec![String::new(); vocab.values().map(|&i| i as usize + 1).max().unwrap_or(0)];
        for (t, &i) in &vocab {
            tokens[i as usize] = t.clone();
        }
        Ok(Self { vocab, tokens, ranks, byte_chars: byte_chars(), split: Regex::new(SPLIT)?, punctuation: Regex::new(r"^\p{P}+$")?, bos, eos, pad })
    }

    /// The CLIP vocabulary rebuilt from merges alone (how CLIP defines it).
    pub fn from_merges(merges_text: &str, pad_token: Option<&str>) -> Result<Self> {
        let merges = parse_merges(merges_text)?;
        let bytes = byte_order();
        let mut list: Vec<String> = bytes.iter().map(|c| c.to_string()).collect();
        list.extend(bytes.iter().map(|c| format!("{c}</w>")));
        list.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        list.push(BOS.into());
        list.push(EOS.into());
        let vocab = list.into_iter().enumerate().map(|(i, t)| (t, i as u32)).collect();
        Self::build(vocab, merges, pad_token)
    }

    /// The tokenizer of the built-in model (real CLIP vocabulary, SD1 padding).
    pub fn builtin() -> Result<Self> {
        use std::io::Read;
        let mut text = String::new();
        flate2::read::GzDecoder::new(BUILTIN_MERGES_GZ).read_to_string(&mut text)?;
        Self::from_merges(&text, None)
    }

    pub fn from_vocab_merges(vocab: &Path, merges: &Path, pad_token: Option<&str>) -> Result<Self> {
        let vtext = std::fs::read_to_string(vocab).with_context(|| format!("cannot read {}", vocab.display()))?;
        let vocab_map: HashMap<String, u32> =
            serde_json::from_str(&vtext).with_context(|| format!("{} is not a JSON token→id map", vocab.display()))?;
        let mtext = std::fs::read_to_string(merges).with_context(|| format!("cannot read {}", merges.display()))?;
        let merges_list = parse_merges(&mtext).with_context(|| format!("in {}", merges.display()))?;
        Self::build(vocab_map, merges_list, pad_token).with_context(|| format!("{} with {}", vocab.display(), merges.display()))
    }

    pub fn from_tokenizer_json(path: &Path, pad_token: Option<&str>) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Model {
            vocab: HashMap<String, u32>,
            merges: Vec<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct File {
            model: Model,
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file: File = serde_json::from_str(&text).with_context(|| format!("{} is not a BPE tokenizer.json", path.display()))?;
        let mut merges = Vec::with_capacity(file.model.merges.len());
        for m in file.model.merges {
            // Older files write "a b", newer ones ["a", "b"].
            let pair = match &m {
                serde_json::Value::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                serde_json::Value::Array(v) if v.len() == 2 => {
                    Some((v[0].as_str().unwrap_or_default().to_string(), v[1].as_str().unwrap_or_default().to_string()))
                }
                _ => None,
            };
            merges.push(pair.with_context(|| format!("{}: unreadable merge {m}", path.display()))?);
        }
        let mut vocab = file.model.vocab;
        for (t, i) in [(BOS, 49406u32), (EOS, 49407)] {
            vocab.entry(t.to_string()).or_insert(i);
        }
        Self::build(vocab, merges, pad_token).with_context(|| path.display().to_string())
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The largest id the tokenizer can emit (the text encoder's table must reach it).
    pub fn max_id(&self) -> u32 {
        self.tokens.len().saturating_sub(1) as u32
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// Token ids of a prompt with BOS and EOS, without padding (truncated to 77).
    pub fn encode_unpadded(&self, prompt: &str) -> Vec<u32> {
        let e = self.encode(prompt);
        e.ids[..e.real_len()].to_vec()
    }

    fn bpe(&self, word: &str) -> Vec<u32> {
        let mut syms: Vec<String> = word.bytes().map(|b| self.byte_chars[b as usize].to_string()).collect();
        if let Some(last) = syms.last_mut() {
            last.push_str("</w>");
        }
        loop {
            let best = syms
                .windows(2)
                .filter_map(|w| self.ranks.get(&(w[0].clone(), w[1].clone())).map(|r| (*r, w[0].clone(), w[1].clone())))
                .min_by_key(|(r, _, _)| *r);
            let Some((_, a, b)) = best else { break };
            let mut merged = Vec::with_capacity(syms.len());
            let mut i = 0;
            while i < syms.len() {
                if i + 1 < syms.len() && syms[i] == a && syms[i + 1] == b {
                    merged.push(format!("{a}{b}"));
                    i += 2;
                } else {
                    merged.push(syms[i].clone());
                    i += 1;
                }
            }
            syms = merged;
        }
        syms.iter().map(|s| self.vocab.get(s).copied().unwrap_or(self.eos)).collect()
    }

    /// Normalisation of HF's CLIP tokenizer: NFC, collapse whitespace, lower-case.
    fn normalize(prompt: &str) -> String {
        let nfc: String = prompt.nfc().collect();
        nfc.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }

    pub fn encode(&self, prompt: &str) -> Encoded {
        let text = Self::normalize(prompt);
        // Byte ranges of the whitespace-separated words of the normalised prompt.
        let mut word_spans = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
            match (c == ' ', start) {
                (true, Some(s)) => {
                    word_spans.push((s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        let mut tokens = Vec::new();
        let mut token_starts = Vec::new();
        let mut symbol = Vec::new();
        for m in self.split.find_iter(&text) {
            let other = self.punctuation.is_match(m.as_str());
            // The special tokens typed as text are those tokens, as in HF's and OpenAI's CLIP.
            let special = [BOS, EOS].contains(&m.as_str()).then(|| self.vocab.get(m.as_str()).copied()).flatten();
            for id in special.map_or_else(|| self.bpe(m.as_str()), |id| vec![id]) {
                tokens.push(id);
                token_starts.push(m.start());
                symbol.push(other);
            }
        }
        let prompt_tokens = tokens.len();
        let keep = prompt_tokens.min(MAX_TOKENS - 2);
        let mut ids = Vec::with_capacity(MAX_TOKENS);
        ids.push(self.bos);
        ids.extend_from_slice(&tokens[..keep]);
        ids.push(self.eos);
        ids.resize(MAX_TOKENS, self.pad);
        let words = word_spans
            .iter()
            .map(|&(s, e)| {
                let mine: Vec<usize> = (0..keep).filter(|&k| token_starts[k] >= s && token_starts[k] < e).collect();
                WordTokens {
                    word: text[s..e].to_string(),
                    positions: mine.iter().map(|k| k + 1).collect(),
                    symbols: mine.iter().filter(|&&k| symbol[k]).map(|k| k + 1).collect(),
                }
            })
            .collect();
        Encoded { ids, words, prompt_tokens, truncated: prompt_tokens > keep }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_vocab_matches_clip_layout() {
        let t = ClipTokenizer::builtin().unwrap();
        assert_eq!(t.vocab_size(), 49408);
        assert_eq!((t.bos, t.eos, t.pad), (49406, 49407, 49407));
        assert_eq!(t.token_id("!"), Some(0));
        assert_eq!(t.token_id("a</w>"), Some(320));
        let e = t.encode("a cat sitting next to a mirror");
        assert_eq!(&e.ids[..9], &[49406, 320, 2368, 4919, 1131, 531, 320, 7220, 49407]);
        assert!(e.ids[9..].iter().all(|&i| i == 49407));
        assert_eq!(e.words[1], WordTokens { word: "cat".into(), positions: vec![2], symbols: vec![] });
    }

    #[test]
    fn special_tokens_typed_in_a_prompt_are_those_tokens() {
        let t = ClipTokenizer::builtin().unwrap();
        assert_eq!(t.encode_unpadded("a <|endoftext|> cat"), [49406, 320, 49407, 2368, 49407]);
        assert_eq!(t.encode_unpadded("<|startoftext|>cat"), [49406, 49406, 2368, 49407]);
        assert_ne!(t.encode_unpadded("a <|endoftext cat")[2], 49407, "only the whole token");
    }

    #[test]
    fn words_map_to_all_their_tokens_and_truncation_is_reported() {
        let t = ClipTokenizer::builtin().unwrap();
        let e = t.encode("A Photo of a CAT, highly-detailed");
        assert_eq!(e.words[4].word, "cat,");
        assert_eq!(e.words[4].positions, vec![5, 6]);
        assert!(e.words[5].positions.len() >= 3);
        assert!(!e.truncated);
        let long = vec!["word"; 100].join(" ");
        let e = t.encode(&long);
        assert!(e.truncated);
        assert_eq!(e.prompt_tokens, 100);
        assert_eq!(e.ids[76], 49407);
        assert!(e.words[99].positions.is_empty());
    }
}
