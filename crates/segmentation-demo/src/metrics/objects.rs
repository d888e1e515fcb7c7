//! Object counts: connected components of one class in a class map.

/// The number of 8-connected components (pixels touching by an edge or a corner) of the pixels
/// equal to `class`. With the boundary class of [`instances_to_classes`], the class-1 parts of
/// touching nuclei are separate components. Panics if `mask.len() != width · height`.
pub fn count_components(mask: &[u8], width: usize, height: usize, class: u8) -> usize {
    assert_eq!(mask.len(), width * height, "mask buffer size");
    let mut seen = vec![false; mask.len()];
    let mut stack = Vec::new();
    let mut count = 0;
    for start in 0..mask.len() {
        if seen[start] || mask[start] != class {
            continue;
        }
        count += 1;
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if !seen[j] && mask[j] == class {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_components_is_8_connected() {
        #[rustfmt::skip]
        let mask = [
            1, 0, 0, 1,
            0, 1, 0, 1,
            0, 0, 0, 0,
            2, 2, 0, 1,
        ];
        assert_eq!(count_components(&mask, 4, 4, 1), 3);
        assert_eq!(count_components(&mask, 4, 4, 2), 1);
        assert_eq!(count_components(&mask, 4, 4, 0), 1);
        assert_eq!(count_components(&mask, 4, 4, 3), 0);
    }
}
