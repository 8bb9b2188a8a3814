use super::*;
use image::Rgb;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

/// Renders through a real `Terminal<TestBackend>`, the way the dashboard's `Frame` does.
fn draw(widget: HalfBlock<'_>, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| frame.render_widget(widget, frame.area())).unwrap();
    terminal.backend().buffer().clone()
}

fn rgb(c: [u8; 3]) -> Color {
    Color::Rgb(c[0], c[1], c[2])
}

fn solid(width: u32, height: u32, c: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb(c))
}

/// Red-green gradient left to right / top to bottom, constant blue: every pixel distinct.
fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / (width - 1)) as u8, (y * 255 / (height - 1)) as u8, 96])
    })
}

/// The columns and rows holding picture cells, as (x range, y range).
fn painted_bounds(buf: &Buffer) -> Option<(std::ops::Range<u16>, std::ops::Range<u16>)> {
    let painted: Vec<(u16, u16)> = (0..buf.area.height)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .filter(|&(x, y)| buf[(x, y)].symbol() == UPPER_HALF)
        .collect();
    let xs = painted.iter().map(|p| p.0);
    let ys = painted.iter().map(|p| p.1);
    Some((xs.clone().min()?..xs.max()? + 1, ys.clone().min()?..ys.max()? + 1))
}

/// A snapshot-friendly text form: the symbols, then the fg and bg colour of every cell.
fn describe(buf: &Buffer) -> String {
    let token = |c: Color| match c {
        Color::Reset => "·".to_string(),
        Color::Rgb(r, g, b) => format!("{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => format!("{i:3}"),
        named => format!("{:x}", named_index(named)),
    };
    let grid = |part: &dyn Fn(&ratatui::buffer::Cell) -> String| -> String {
        (0..buf.area.height)
            .map(|y| (0..buf.area.width).map(|x| part(&buf[(x, y)])).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "symbols:\n{}\nfg:\n{}\nbg:\n{}\n",
        grid(&|c| c.symbol().to_string()),
        grid(&|c| token(c.fg)),
        grid(&|c| token(c.bg)),
    )
}

/// ANSI number of a named colour, so the Ansi16 snapshot reads as one hex digit per cell.
fn named_index(color: Color) -> u8 {
    const ORDER: [Color; 16] = [
        Color::Black, Color::Red, Color::Green, Color::Yellow, Color::Blue, Color::Magenta,
        Color::Cyan, Color::Gray, Color::DarkGray, Color::LightRed, Color::LightGreen,
        Color::LightYellow, Color::LightBlue, Color::LightMagenta, Color::LightCyan, Color::White,
    ];
    ORDER.iter().position(|&c| c == color).expect("a named ANSI colour") as u8
}

#[test]
fn quadrants_land_in_the_expected_cells() {
    let image = RgbImage::from_fn(4, 4, |x, y| {
        Rgb(match (x < 2, y < 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    });
    let buf = draw(HalfBlock::new(&image), 4, 2);
    for y in 0..2u16 {
        for x in 0..4u16 {
            let expected = match (x < 2, y < 1) {
                (true, true) => RED,
                (false, true) => GREEN,
                (true, false) => BLUE,
                (false, false) => WHITE,
            };
            let cell = &buf[(x, y)];
            assert_eq!(cell.symbol(), UPPER_HALF, "cell ({x}, {y})");
            assert_eq!((cell.fg, cell.bg), (rgb(expected), rgb(expected)), "cell ({x}, {y})");
        }
    }
}

#[test]
fn top_pixel_is_foreground_and_bottom_pixel_background() {
    let rows = [RED, GREEN, BLUE, WHITE];
    let image = RgbImage::from_fn(2, 4, |_, y| Rgb(rows[y as usize]));
    let buf = draw(HalfBlock::new(&image), 2, 2);
    for x in 0..2 {
        assert_eq!((buf[(x, 0)].fg, buf[(x, 0)].bg), (rgb(RED), rgb(GREEN)));
        assert_eq!((buf[(x, 1)].fg, buf[(x, 1)].bg), (rgb(BLUE), rgb(WHITE)));
    }
}

#[test]
fn tall_image_keeps_aspect_and_is_centred_horizontally() {
    // 10×40 px into 20 columns × 20 half-rows: scale 1/2 → 5×20 px → 5 columns × 10 rows.
    assert_eq!(cells_for(10, 40, 20, 10), (5, 10));
    let buf = draw(HalfBlock::new(&solid(10, 40, RED)), 20, 10);
    assert_eq!(painted_bounds(&buf), Some((7..12, 0..10)));
    assert_eq!(buf[(6, 5)].symbol(), " ");
}

#[test]
fn wide_image_keeps_aspect_and_is_centred_vertically() {
    // 40×8 px into 20 columns × 20 half-rows: scale 1/2 → 20×4 px → 20 columns × 2 rows.
    assert_eq!(cells_for(40, 8, 20, 10), (20, 2));
    let buf = draw(HalfBlock::new(&solid(40, 8, GREEN)), 20, 10);
    assert_eq!(painted_bounds(&buf), Some((0..20, 4..6)));
}

#[test]
fn small_image_is_not_upscaled_unless_asked() {
    let image = solid(4, 4, BLUE);
    assert_eq!(cells_for(4, 4, 20, 10), (4, 2));
    let buf = draw(HalfBlock::new(&image), 20, 10);
    assert_eq!(painted_bounds(&buf), Some((8..12, 4..6)));

    let widget = HalfBlock::new(&image).upscale(true);
    assert_eq!(widget.cells_in(Rect::new(0, 0, 20, 10)), (20, 10));
    let buf = draw(widget, 20, 10);
    assert_eq!(painted_bounds(&buf), Some((0..20, 0..10)));
}

#[test]
fn odd_pixel_height_leaves_the_last_bottom_half_alone() {
    let image = solid(2, 3, RED);
    let buf = draw(HalfBlock::new(&image), 2, 2);
    assert_eq!((buf[(0, 0)].fg, buf[(0, 0)].bg), (rgb(RED), rgb(RED)));
    assert_eq!((buf[(0, 1)].fg, buf[(0, 1)].bg), (rgb(RED), Color::Reset));
}

#[test]
fn ansi16_maps_pure_red_to_light_red() {
    let buf = draw(HalfBlock::new(&solid(2, 2, RED)).color_mode(ColorMode::Ansi16), 2, 1);
    assert_eq!((buf[(0, 0)].fg, buf[(0, 0)].bg), (Color::LightRed, Color::LightRed));
}

#[test]
fn tiny_and_empty_areas_do_not_panic() {
    let image = gradient(64, 48);
    let buf = draw(HalfBlock::new(&image), 1, 1);
    assert_eq!(buf[(0, 0)].symbol(), UPPER_HALF);

    let mut buf = Buffer::empty(Rect::new(0, 0, 4, 4));
    for area in [Rect::new(0, 0, 0, 5), Rect::new(0, 0, 5, 0), Rect::new(1, 1, 0, 0)] {
        HalfBlock::new(&image).render(area, &mut buf);
    }
    // Partly outside the buffer: clipped, not a panic.
    HalfBlock::new(&image).upscale(true).render(Rect::new(2, 2, 10, 10), &mut buf);
    assert_eq!(buf[(0, 0)].symbol(), " ");

    let empty = RgbImage::new(0, 0);
    let buf = draw(HalfBlock::new(&empty).upscale(true), 5, 5);
    assert_eq!(painted_bounds(&buf), None);
    assert_eq!(cells_for(0, 10, 5, 5), (0, 0));
    assert_eq!(cells_for(10, 10, 0, 5), (0, 0));
}

#[test]
fn gradient_truecolor_snapshot() {
    let image = gradient(64, 48);
    insta::assert_snapshot!(describe(&draw(HalfBlock::new(&image), 20, 10)));
}

#[test]
fn gradient_ansi256_snapshot() {
    let image = gradient(64, 48);
    let widget = HalfBlock::new(&image).color_mode(ColorMode::Ansi256);
    insta::assert_snapshot!(describe(&draw(widget, 20, 10)));
}

#[test]
fn gradient_ansi16_snapshot() {
    let image = gradient(64, 48);
    let widget = HalfBlock::new(&image).color_mode(ColorMode::Ansi16);
    insta::assert_snapshot!(describe(&draw(widget, 20, 10)));
}
