//! Images ⇄ tensors: loading any photo, centre-crop + resize to the model size (ALGORITHMS §1.3),
//! and the uint8 conversion of decoded images (§1.4: clamp, scale, truncate).

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
pub use image::RgbImage;
use image::{imageops::FilterType, DynamicImage, ImageDecoder};
use std::path::Path;

/// Largest image side pivot decodes (guards against decompression bombs).
pub const MAX_SIDE: u32 = 16384;

/// Load an image file as RGB (grey is expanded, alpha dropped, EXIF orientation applied), with a
/// message naming the file.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    Ok(load_photo(path)?.0)
}

/// [`load_rgb`], and what the user should know about the file itself: transparent pixels keep
/// the colour stored under them (diffusers' `convert("RGB")` does the same), which is often not
/// what the picture shows.
pub fn load_photo(path: &Path) -> Result<(RgbImage, Vec<String>)> {
    // A named pipe or device would block the read or never end: refused by its kind first.
    crate::regular_file::check(path, "the photo")?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
    let img = decode(path, &bytes)?;
    let transparent = img.color().has_alpha() && img.to_rgba8().pixels().any(|p| p.0[3] < 255);
    let mut warnings = Vec::new();
    if transparent {
        warnings.push(format!("{} has transparent pixels: pivot reads the colour stored under them, not a background (flatten the photo first to choose one)", path.display()));
    }
    if is_animated(&bytes) {
        warnings.push(format!("{} is animated: pivot uses its first frame", path.display()));
    }
    Ok((img.to_rgb8(), warnings))
}

/// Whether the file's `bytes` are a GIF or PNG of more than one frame (best effort: unreadable
/// is not).
fn is_animated(bytes: &[u8]) -> bool {
    use image::AnimationDecoder;
    let cursor = || std::io::Cursor::new(bytes);
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Gif) => image::codecs::gif::GifDecoder::new(cursor()).is_ok_and(|d| d.into_frames().take(2).count() > 1),
        Ok(image::ImageFormat::Png) => image::codecs::png::PngDecoder::new(cursor()).and_then(|d| d.is_apng()).unwrap_or(false),
        _ => false,
    }
}

/// The image in `bytes`, read from `path` (named in the errors).
fn decode(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    if bytes.is_empty() {
        bail!("{} is empty (0 bytes): use a complete copy of the photo", path.display());
    }
    let open = || image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().with_context(|| format!("cannot read image {}", path.display()));
    let mut reader = open()?;
    if reader.format().is_none() {
        bail!("{} is not an image pivot can read (PNG, JPEG, WebP, BMP, GIF, TIFF)", path.display());
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_reaches_its_end(bytes) {
        bail!("{} is a truncated JPEG (its data stops before the end-of-image marker; the missing part would come out grey): use a complete copy", path.display());
    }
    // The WebP decoder calls a cut-off file a corrupt bitstream; its RIFF header says how long it is.
    if reader.format() == Some(image::ImageFormat::WebP) && !riff_is_whole(bytes) {
        return Err(truncated(path));
    }
    // Only the header is read here: a huge size gets the message below, not a memory-limit error.
    reader.no_limits();
    let (w, h) = reader.into_dimensions().map_err(|e| unreadable(path, e))?;
    if w == 0 || h == 0 {
        bail!("{} has zero size ({w}×{h})", path.display());
    }
    if w > MAX_SIDE || h > MAX_SIDE {
        bail!("{} is {w}×{h}; pivot reads images up to {MAX_SIDE} pixels a side — downscale it first", path.display());
    }
    // The sides are checked, so the decoder may take what the largest of them needs (16-bit
    // RGBA) instead of its default 512 MiB cap.
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(u64::from(w) * u64::from(h) * 8 + (64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| unreadable(path, e))?;
    // Cameras and phones store a portrait photo sideways, with an EXIF tag saying how to turn it.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| unreadable(path, e))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// A decoder's refusal, with what to do when the file is an image of a kind pivot cannot read
/// (floating-point TIFF, say) or one cut short, rather than a damaged one.
fn unreadable(path: &Path, e: image::ImageError) -> anyhow::Error {
    if cut_short(&e) {
        return truncated(path);
    }
    let what = match e {
        image::ImageError::Unsupported(_) => "is an image of a kind pivot cannot read: save it as a JPEG or an 8- or 16-bit PNG",
        _ => "is not a readable image",
    };
    anyhow::Error::new(e).context(format!("{} {what}", path.display()))
}

fn truncated(path: &Path) -> anyhow::Error {
    anyhow::anyhow!("{} is truncated (its data stops before the picture ends): use a complete copy", path.display())
}

/// Whether a RIFF file (WebP) holds as many bytes as its header says.
fn riff_is_whole(b: &[u8]) -> bool {
    b.get(4..8).is_some_and(|n| u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize + 8 <= b.len())
}

/// Whether the decoder ran out of data: a cut-off download or copy. Most decoders say so with an
/// I/O end-of-file error (`failed to fill whole buffer`); some only in words.
fn cut_short(e: &image::ImageError) -> bool {
    // (`ImageError::IoError`'s source is the I/O error's own source, skipping it: look first.)
    if let image::ImageError::IoError(io) = e {
        return io.kind() == std::io::ErrorKind::UnexpectedEof;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof) {
            return true;
        }
        cause = c.source();
    }
    let text = e.to_string().to_ascii_lowercase();
    ["failed to fill whole buffer", "unexpected end of file", "unexpected eof"].iter().any(|w| text.contains(w))
}

/// Whether a JPEG's marker stream reaches its end-of-image marker. A cut-off download or copy
/// does not, and the decoder fills what is missing with grey instead of failing. Walking the
/// segments (rather than searching for the marker) ignores whatever trails the image.
fn jpeg_reaches_its_end(b: &[u8]) -> bool {
    let mut i = 2; // after the start-of-image marker
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            i += 1;
            continue;
        }
        match b[i + 1] {
            0xD9 => return true,
            0xFF => i += 1,                      // fill byte before a marker
            0x01 | 0xD0..=0xD7 => i += 2,        // markers without a length
            marker => {
                let Some(len) = b.get(i + 2..i + 4).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else { return false };
                i += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data: runs to the next marker that is neither a stuffed 0xFF nor a restart.
                    while i + 1 < b.len() && !(b[i] == 0xFF && b[i + 1] != 0 && !(0xD0..=0xD7).contains(&b[i + 1])) {
                        i += 1;
                    }
                }
            }
        }
    }
    false
}

/// What a user should know about how a `w`×`h` photo becomes the model's `side`² square.
pub fn fit_warnings(w: u32, h: u32, side: u32) -> Vec<String> {
    let s = w.min(h);
    let (cropped, small) = (w.max(h) >= 2 * s, s < side / 2);
    let enlarged = format!("it is enlarged to {side}×{side}, so the inversion reproduces a blurred picture");
    // One warning per photo: a thin one is both cropped hard and small.
    let said = match (cropped, small) {
        (true, true) => format!("the {w}×{h} photo is cropped to its centre square, which is small ({s}×{s}): {enlarged}"),
        (true, false) => format!("the {w}×{h} photo is cropped to its centre {s}×{s} square"),
        (false, true) if w == h => format!("the photo is small ({w}×{h}): {enlarged}"),
        (false, true) => format!("the photo's centre square is small ({s}×{s} of {w}×{h}): {enlarged}"),
        (false, false) => return Vec::new(),
    };
    vec![said]
}

/// Centre-crop to a square and resize to `side`×`side` (bicubic; no-op when already that size).
pub fn square(img: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let s = w.min(h);
    let cropped = image::imageops::crop_imm(img, (w - s) / 2, (h - s) / 2, s, s).to_image();
    if s == side {
        cropped
    } else {
        DynamicImage::ImageRgb8(cropped).resize_exact(side, side, FilterType::CatmullRom).to_rgb8()
    }
}

/// `[1, 3, H, W]` f32 in `[-1, 1]` (`u8 / 127.5 − 1`).
pub fn to_tensor(img: &RgbImage, dev: &Device) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    let data: Vec<f32> = img.as_raw().iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    Ok(Tensor::from_vec(data, (h as usize, w as usize, 3), dev)?.permute((2, 0, 1))?.unsqueeze(0)?.contiguous()?)
}

/// One decoded image `[3, H, W]` (≈[-1,1]) → RGB, `trunc(clamp(x/2 + 0.5, 0, 1)·255)`.
pub fn from_tensor(t: &Tensor) -> Result<RgbImage> {
    let t = if t.rank() == 4 { t.get(0)? } else { t.clone() };
    let (c, h, w) = t.dims3()?;
    if c != 3 {
        bail!("expected a 3-channel image tensor, got {c} channels");
    }
    // One copy to the host: checked, then clamped and scaled there.
    let hwc: Vec<f32> = ((t.to_dtype(DType::F32)? / 2.0)? + 0.5)?.permute((1, 2, 0))?.flatten_all()?.to_vec1()?;
    // A black picture written as if all went well would hide an overflow (a huge re-weight, a
    // damaged inversion): refuse it.
    let bad = hwc.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        bail!("the decoded picture has {bad} NaN or infinite values: the sampling overflowed (a guidance or re-weight far too large, or damaged model or inversion files?); nothing was written");
    }
    let bytes: Vec<u8> = hwc.into_iter().map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8).collect();
    RgbImage::from_raw(w as u32, h as u32, bytes).context("image buffer size")
}

/// Save as PNG (or whatever the extension names), creating parent folders.
pub fn save(img: &RgbImage, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    img.save(path).with_context(|| format!("cannot write {}", path.display()))
}

/// The image as PNG bytes (for atomic writes).
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).context("cannot encode PNG")?;
    Ok(out.into_inner())
}

/// A deterministic colourful pattern (demo and benchmark input when no photo is given).
pub fn test_pattern(side: u32) -> RgbImage {
    RgbImage::from_fn(side, side, |x, y| {
        let (u, v) = (x as f32 / side as f32, y as f32 / side as f32);
        let ring = ((u - 0.5).hypot(v - 0.5) * 18.0).sin() * 0.5 + 0.5;
        let r = (255.0 * u * ring) as u8;
        let g = (255.0 * v) as u8;
        let b = (255.0 * (1.0 - u) * (1.0 - ring * 0.5)) as u8;
        image::Rgb([r, g, b])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_pipe_or_folder_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("photo.png");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Read, a pipe with no writer would block this test for ever.
        assert!(load_photo(&fifo).unwrap_err().to_string().contains("is not a regular file"));
        assert!(load_photo(dir.path()).unwrap_err().to_string().contains("is a folder"));
    }

    #[test]
    fn crop_is_centred_and_round_trip_is_exact() {
        let mut img = RgbImage::new(6, 4);
        img.put_pixel(1, 0, image::Rgb([255, 0, 0]));
        let sq = square(&img, 4);
        assert_eq!(sq.dimensions(), (4, 4));
        assert_eq!(sq.get_pixel(0, 0).0, [255, 0, 0]);
        let t = to_tensor(&sq, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 3, 4, 4]);
        assert_eq!(from_tensor(&t).unwrap(), sq);
        let nan = t.broadcast_mul(&Tensor::new(&[f32::NAN], &Device::Cpu).unwrap()).unwrap();
        assert!(from_tensor(&nan).unwrap_err().to_string().contains("48 NaN or infinite values"));
    }

    /// A JPEG whose EXIF says "rotate 90° clockwise to view" (orientation 6), as phones write
    /// portrait photos, is loaded upright.
    #[test]
    fn exif_orientation_is_applied() {
        let mut img = RgbImage::from_pixel(8, 4, image::Rgb([0, 0, 255]));
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 100).encode_image(&img).unwrap();
        // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112) = 6.
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let len = (app1.len() + 2) as u16;
        let mut file = vec![0xFF, 0xD8, 0xFF, 0xE1];
        file.extend_from_slice(&len.to_be_bytes());
        file.extend_from_slice(&app1);
        file.extend_from_slice(&jpeg[2..]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portrait.jpg");
        std::fs::write(&path, &file).unwrap();
        let loaded = load_rgb(&path).unwrap();
        assert_eq!(loaded.dimensions(), (4, 8), "turned upright");
        // The stored top-left corner ends up top-right after a clockwise quarter turn.
        let [r, _, b] = loaded.get_pixel(3, 0).0;
        assert!(r > 150 && b < 100, "{:?}", loaded.get_pixel(3, 0));
    }

    #[test]
    fn truncated_jpegs_are_refused_and_whole_ones_read() {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.jpg");
        test_pattern(64).save(&whole).unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        assert!(jpeg_reaches_its_end(&bytes));
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(&[0xFF, 0xDA, 0, 4, 1, 2, 3]); // a trailer after the image
        assert!(jpeg_reaches_its_end(&trailing));
        assert_eq!(load_rgb(&whole).unwrap().dimensions(), (64, 64));
        let cut = dir.path().join("cut.jpg");
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let e = format!("{:#}", load_rgb(&cut).unwrap_err());
        assert!(e.contains("cut.jpg") && e.contains("truncated"), "{e}");
    }

    #[test]
    fn truncated_files_of_every_format_say_so() {
        let dir = tempfile::tempdir().unwrap();
        for ext in ["bmp", "png", "tiff", "gif", "webp"] {
            let whole = dir.path().join(format!("whole.{ext}"));
            test_pattern(64).save(&whole).unwrap();
            let bytes = std::fs::read(&whole).unwrap();
            let cut = dir.path().join(format!("cut.{ext}"));
            std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
            let e = format!("{:#}", load_rgb(&cut).unwrap_err());
            assert!(e.contains(&format!("cut.{ext} is truncated")) && e.contains("use a complete copy") && !e.contains("fill whole buffer"), "{ext}: {e}");
        }
    }

    #[test]
    fn non_images_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.png");
        std::fs::write(&p, b"hello, not an image").unwrap();
        let e = format!("{:#}", load_rgb(&p).unwrap_err());
        assert!(e.contains("notes.png"), "{e}");
        let e = format!("{:#}", load_rgb(&dir.path().join("gone.jpg")).unwrap_err());
        assert!(e.contains("gone.jpg"), "{e}");
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let e = format!("{:#}", load_rgb(&empty).unwrap_err());
        assert!(e.contains("empty.png is empty (0 bytes)"), "{e}");
    }

    #[test]
    fn transparency_is_pointed_out_and_an_opaque_alpha_channel_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut-out.png");
        image::RgbaImage::from_fn(8, 8, |x, _| image::Rgba([255, 0, 0, if x < 4 { 0 } else { 255 }])).save(&p).unwrap();
        let (rgb, warnings) = load_photo(&p).unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 0, 0], "the stored colour, as diffusers reads it");
        assert!(warnings.len() == 1 && warnings[0].contains("transparent pixels"), "{warnings:?}");
        image::RgbaImage::from_pixel(8, 8, image::Rgba([1, 2, 3, 255])).save(&p).unwrap();
        assert!(load_photo(&p).unwrap().1.is_empty());
        let w = fit_warnings(10, 3000, 512);
        assert_eq!(w, ["the 10×3000 photo is cropped to its centre square, which is small (10×10): it is enlarged to 512×512, so the inversion reproduces a blurred picture"]);
        assert_eq!(fit_warnings(200, 300, 512), ["the photo's centre square is small (200×200 of 200×300): it is enlarged to 512×512, so the inversion reproduces a blurred picture"]);
        assert!(fit_warnings(600, 800, 512).is_empty());
    }

    #[test]
    fn an_animated_gif_gives_its_first_frame_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("blink.gif");
        let frame = |c: [u8; 4]| image::Frame::new(image::RgbaImage::from_pixel(4, 4, image::Rgba(c)));
        let mut enc = image::codecs::gif::GifEncoder::new(std::fs::File::create(&p).unwrap());
        enc.encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])]).unwrap();
        drop(enc);
        let (rgb, warnings) = load_photo(&p).unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 0, 0]);
        assert!(warnings.iter().any(|w| w.contains("is animated: pivot uses its first frame")), "{warnings:?}");
        image::RgbaImage::from_pixel(4, 4, image::Rgba([255, 0, 0, 255])).save(&p).unwrap();
        assert!(load_photo(&p).unwrap().1.is_empty(), "one frame: nothing to say");
    }
}

