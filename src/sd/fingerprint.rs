//! Model fingerprints: what inversion files and sessions record so that they are never used with
//! other weights. The fingerprint covers every byte of every model file (configs, tokenizer,
//! weights), so a merged LoRA or one changed tensor is another model. Fingerprints written before
//! it covered the first MiB of each file; those are still recognised (`legacy`).

use super::source::ModelFiles;
use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

/// A model's fingerprint, and the one pivot recorded for it before fingerprints covered whole
/// files (files and sessions made then carry that one).
#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprints {
    pub full: String,
    pub legacy: Option<String>,
}

impl Fingerprints {
    /// Fingerprints of the model in `files`.
    pub fn of(files: &ModelFiles) -> Result<Self> {
        let paths = files.all();
        Ok(Self { full: whole_files(&paths)?, legacy: Some(leading_bytes(&paths)?) })
    }
}

/// Four independent lanes of (multiply, rotate) over 8-byte words: fast enough to read a 4 GB
/// model in about a second, and any one changed word changes the result (each step is a
/// bijection of its lane). Not for security.
struct WordHash {
    lanes: [u64; 4],
    /// A partial word carried to the next chunk, and how many bytes it holds.
    carry: [u8; 32],
    held: usize,
    len: u64,
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl WordHash {
    fn new() -> Self {
        Self { lanes: [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89], carry: [0; 32], held: 0, len: 0 }
    }

    fn block(&mut self, b: &[u8]) {
        for (lane, w) in self.lanes.iter_mut().zip(b.chunks_exact(8)) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            *lane = ((*lane ^ w).wrapping_mul(K)).rotate_left(29);
        }
    }

    fn eat(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.held > 0 {
            let take = (32 - self.held).min(bytes.len());
            self.carry[self.held..self.held + take].copy_from_slice(&bytes[..take]);
            self.held += take;
            bytes = &bytes[take..];
            if self.held < 32 {
                return;
            }
            let carry = self.carry;
            self.block(&carry);
            self.held = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for b in blocks.by_ref() {
            self.block(b);
        }
        let rest = blocks.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.held = rest.len();
    }

    fn finish(mut self) -> u64 {
        // The tail, zero-padded, then the length: "ab" and "ab\0" differ.
        let mut tail = [0u8; 32];
        tail[..self.held].copy_from_slice(&self.carry[..self.held]);
        self.block(&tail);
        let mut h = self.len.wrapping_mul(K);
        for l in self.lanes {
            h = (h ^ l).wrapping_mul(K).rotate_left(31);
        }
        h
    }
}

fn whole_files(paths: &[&Path]) -> Result<String> {
    let mut h = WordHash::new();
    let mut buf = vec![0u8; 4 << 20];
    for p in paths {
        let mut f = std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
        let mut file = WordHash::new();
        loop {
            let n = f.read(&mut buf).with_context(|| format!("cannot read {}", p.display()))?;
            if n == 0 {
                break;
            }
            file.eat(&buf[..n]);
        }
        h.eat(&file.finish().to_le_bytes());
    }
    Ok(format!("{:016x}", h.finish()))
}

/// The fingerprint of pivot before whole files: each file's length and first MiB.
fn leading_bytes(paths: &[&Path]) -> Result<String> {
    let mut h = crate::fnv::Fnv::new();
    for p in paths {
        let mut f = std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
        let len = f.metadata()?.len();
        let mut head = Vec::new();
        f.by_ref().take(1 << 20).read_to_end(&mut head)?;
        h.eat(&len.to_le_bytes());
        h.eat(&head);
    }
    Ok(format!("{:016x}", h.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(parts: &[&[u8]]) -> u64 {
        let mut h = WordHash::new();
        parts.iter().for_each(|p| h.eat(p));
        h.finish()
    }

    #[test]
    fn the_hash_does_not_depend_on_how_the_bytes_arrive_and_sees_every_byte() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = hash(&[&data]);
        for cut in [1, 7, 31, 32, 33, 500, 999] {
            assert_eq!(hash(&[&data[..cut], &data[cut..]]), whole, "cut at {cut}");
        }
        assert_eq!(hash(&[&data[..3], &data[3..40], &data[40..41], &data[41..]]), whole);
        for at in [0, 8, 31, 64, 500, 999] {
            for bit in [0, 7] {
                let mut changed = data.clone();
                changed[at] ^= 1 << bit;
                assert_ne!(hash(&[&changed]), whole, "byte {at} bit {bit}");
            }
        }
        // The same high bit flipped in two words of one lane is seen too.
        let mut two = data.clone();
        two[7] ^= 0x80;
        two[39] ^= 0x80;
        assert_ne!(hash(&[&two]), whole);
        assert_ne!(hash(&[b"ab"]), hash(&[b"ab\0"]));
    }

    #[test]
    fn a_change_past_the_first_mib_makes_another_model() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let mut bytes = vec![3u8; (1 << 20) + 4096];
        std::fs::write(&p, &bytes).unwrap();
        let before = (whole_files(&[&p]).unwrap(), leading_bytes(&[&p]).unwrap());
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let after = (whole_files(&[&p]).unwrap(), leading_bytes(&[&p]).unwrap());
        assert_ne!(before.0, after.0, "the whole file counts");
        assert_eq!(before.1, after.1, "(the first MiB alone did not see it)");
    }
}
