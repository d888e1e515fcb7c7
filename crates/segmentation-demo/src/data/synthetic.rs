//! The deterministic synthetic shapes data set (5 classes) and its random number generator.

use super::{SegSample, SplitData};

/// A small deterministic PRNG (SplitMix64), so the synthetic set depends only on the seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5EED_5EED_1234_5678)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `[0, n)`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal sample (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Settings of the synthetic shapes data set.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// Number of training images.
    pub num_train: usize,
    /// Number of validation images.
    pub num_valid: usize,
    /// Side length of the square images.
    pub image_size: usize,
    /// Seed; the same seed gives the same images.
    pub seed: u64,
    /// Standard deviation of the Gaussian pixel noise.
    pub noise: f32,
}

impl SyntheticConfig {
    /// A config with the default noise level.
    pub fn new(num_train: usize, num_valid: usize, image_size: usize, seed: u64) -> Self {
        Self {
            num_train,
            num_valid,
            image_size,
            seed,
            noise: 0.05,
        }
    }

    /// Generates the train and validation splits (validation uses a different stream of the same
    /// seed, so changing `num_train` does not change the validation images).
    pub fn generate(&self) -> SplitData {
        let mut train_rng = Rng::new(self.seed.wrapping_mul(2).wrapping_add(1));
        let mut valid_rng = Rng::new(self.seed.wrapping_mul(2).wrapping_add(2));
        SplitData {
            train: (0..self.num_train)
                .map(|_| synthetic_sample(&mut train_rng, self.image_size, self.noise))
                .collect(),
            valid: (0..self.num_valid)
                .map(|_| synthetic_sample(&mut valid_rng, self.image_size, self.noise))
                .collect(),
        }
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Disc { cx: f32, cy: f32, r: f32 },
    Rect { x0: f32, y0: f32, x1: f32, y1: f32 },
    Triangle([(f32, f32); 3]),
}

impl Shape {
    fn contains(&self, x: f32, y: f32) -> bool {
        match *self {
            Shape::Disc { cx, cy, r } => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::Rect { x0, y0, x1, y1 } => x >= x0 && x <= x1 && y >= y0 && y <= y1,
            Shape::Triangle([a, b, c]) => {
                let edge = |p: (f32, f32), q: (f32, f32)| {
                    (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0)
                };
                let (d1, d2, d3) = (edge(a, b), edge(b, c), edge(c, a));
                let has_neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
                let has_pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
                !(has_neg && has_pos)
            }
        }
    }
}

fn hsv_to_rgb(hue: f32, sat: f32, val: f32) -> [f32; 3] {
    let h = hue.rem_euclid(360.0) / 60.0;
    let c = val * sat;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = val - c;
    [r + m, g + m, b + m]
}

/// Base hue (degrees) of each foreground class; instances vary around it.
const CLASS_HUES: [f32; 5] = [0.0, 0.0, 120.0, 230.0, 60.0];

/// A colour for an object of `class`: its class hue ± 25°, random saturation and brightness.
/// Saturation can be low, so colour alone does not settle every pixel; shape, size and
/// context do the rest.
fn class_colour(rng: &mut Rng, class: u8) -> [f32; 3] {
    let hue = CLASS_HUES[class as usize] + rng.range(-25.0, 25.0);
    hsv_to_rgb(hue, rng.range(0.45, 1.0), rng.range(0.6, 1.0))
}

/// `[0, 1]` to 8 bits, as a PNG of the image would hold it.
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// One synthetic image: a dark, weakly tinted background with a gentle gradient, 1–4 large
/// shapes (circle, rectangle, triangle — triangles rarer), sometimes a few small "dots" (the rare
/// class), and Gaussian noise. Each class has a characteristic hue with random variation
/// (see [`class_colour`]).
pub fn synthetic_sample(rng: &mut Rng, size: usize, noise: f32) -> SegSample {
    let s = size as f32;
    let background = hsv_to_rgb(
        rng.range(0.0, 360.0),
        rng.range(0.0, 0.3),
        rng.range(0.05, 0.45),
    );
    let gradient = [rng.range(-0.15, 0.15), rng.range(-0.15, 0.15)];

    let mut shapes: Vec<(Shape, u8, [f32; 3])> = Vec::new();
    let num_large = 1 + rng.below(4);
    for _ in 0..num_large {
        let class = match rng.uniform() {
            u if u < 0.4 => 1,
            u if u < 0.8 => 2,
            _ => 3,
        };
        let (cx, cy) = (rng.range(0.1, 0.9) * s, rng.range(0.1, 0.9) * s);
        let shape = match class {
            1 => Shape::Disc {
                cx,
                cy,
                r: rng.range(0.12, 0.24) * s,
            },
            2 => {
                let (hw, hh) = (rng.range(0.08, 0.22) * s, rng.range(0.08, 0.22) * s);
                Shape::Rect {
                    x0: cx - hw,
                    y0: cy - hh,
                    x1: cx + hw,
                    y1: cy + hh,
                }
            }
            _ => {
                let r = rng.range(0.14, 0.28) * s;
                let rot = rng.range(0.0, std::f32::consts::TAU);
                let mut pts = [(0.0, 0.0); 3];
                for (k, p) in pts.iter_mut().enumerate() {
                    let a = rot + k as f32 * std::f32::consts::TAU / 3.0 + rng.range(-0.25, 0.25);
                    *p = (cx + r * a.cos(), cy + r * a.sin());
                }
                Shape::Triangle(pts)
            }
        };
        shapes.push((shape, class, class_colour(rng, class)));
    }
    if rng.uniform() < 0.4 {
        for _ in 0..1 + rng.below(3) {
            let shape = Shape::Disc {
                cx: rng.range(0.05, 0.95) * s,
                cy: rng.range(0.05, 0.95) * s,
                r: rng.range(0.05, 0.07) * s,
            };
            shapes.push((shape, 4, class_colour(rng, 4)));
        }
    }

    let mut image = vec![0u8; 3 * size * size];
    let mut mask = vec![0u8; size * size];
    for y in 0..size {
        for x in 0..size {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let shade = gradient[0] * (px / s - 0.5) + gradient[1] * (py / s - 0.5);
            let mut colour = background.map(|c| c + shade);
            // Later shapes are drawn on top of earlier ones, in the image and in the mask.
            for (shape, class, c) in &shapes {
                if shape.contains(px, py) {
                    colour = *c;
                    mask[y * size + x] = *class;
                }
            }
            for (ch, value) in colour.iter().enumerate() {
                image[ch * size * size + y * size + x] = to_u8(value + noise * rng.normal());
            }
        }
    }
    SegSample { size, image, mask }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_has_all_classes() {
        let a = SyntheticConfig::new(40, 8, 32, 7).generate();
        let b = SyntheticConfig::new(40, 8, 32, 7).generate();
        assert_eq!(a.train, b.train);
        assert_eq!(a.valid, b.valid);
        let mut seen = [false; 5];
        for s in &a.train {
            for &m in &s.mask {
                seen[m as usize] = true;
            }
        }
        assert_eq!(seen, [true; 5]);
    }
}
