//! [`ConfusionMatrix`]: pixel counts per (target, prediction) class pair, and the IoU, Dice
//! and accuracy read from it.

use serde::{Deserialize, Serialize};

/// A `C × C` confusion matrix: `counts[target * C + prediction]` pixels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Number of classes `C`.
    pub num_classes: usize,
    /// Row-major counts, rows = target class, columns = predicted class.
    pub counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            counts: vec![0; num_classes * num_classes],
        }
    }

    /// Counts pixels; targets outside `[0, C)` (e.g. 255) are skipped.
    pub fn add(
        &mut self,
        predictions: impl IntoIterator<Item = i64>,
        targets: impl IntoIterator<Item = i64>,
    ) {
        let c = self.num_classes as i64;
        for (p, t) in predictions.into_iter().zip(targets) {
            if (0..c).contains(&t) && (0..c).contains(&p) {
                self.counts[(t * c + p) as usize] += 1;
            }
        }
    }

    /// Adds another matrix's counts.
    pub fn merge(&mut self, other: &ConfusionMatrix) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// `(true positives, false positives, false negatives)` of class `k`.
    fn tp_fp_fn(&self, k: usize) -> (u64, u64, u64) {
        let c = self.num_classes;
        let tp = self.counts[k * c + k];
        let predicted: u64 = (0..c).map(|t| self.counts[t * c + k]).sum();
        let actual: u64 = self.counts[k * c..(k + 1) * c].iter().sum();
        (tp, predicted - tp, actual - tp)
    }

    /// Per-class IoU `TP / (TP + FP + FN)`; `None` when the class is absent from both.
    pub fn iou(&self) -> Vec<Option<f64>> {
        (0..self.num_classes)
            .map(|k| {
                let (tp, fp, fneg) = self.tp_fp_fn(k);
                let denom = tp + fp + fneg;
                (denom > 0).then(|| tp as f64 / denom as f64)
            })
            .collect()
    }

    /// Per-class Dice `2·TP / (2·TP + FP + FN)`; `None` when the class is absent from both.
    pub fn dice(&self) -> Vec<Option<f64>> {
        (0..self.num_classes)
            .map(|k| {
                let (tp, fp, fneg) = self.tp_fp_fn(k);
                let denom = 2 * tp + fp + fneg;
                (denom > 0).then(|| 2.0 * tp as f64 / denom as f64)
            })
            .collect()
    }

    /// Mean IoU over the classes that have one (0 if none has).
    pub fn mean_iou(&self) -> f64 {
        mean_defined(&self.iou())
    }

    /// Mean Dice over the classes that have one (0 if none has).
    pub fn mean_dice(&self) -> f64 {
        mean_defined(&self.dice())
    }

    /// Fraction of counted pixels predicted correctly.
    pub fn pixel_accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let correct: u64 = (0..self.num_classes)
            .map(|k| self.counts[k * self.num_classes + k])
            .sum();
        if total == 0 {
            0.0
        } else {
            correct as f64 / total as f64
        }
    }
}

fn mean_defined(values: &[Option<f64>]) -> f64 {
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    if defined.is_empty() {
        0.0
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_and_dice_from_confusion() {
        let mut m = ConfusionMatrix::new(3);
        // targets: 0 0 1 1 ; predictions: 0 1 1 1 ; an ignored pixel (255) is skipped.
        m.add([0, 1, 1, 1, 2], [0, 0, 1, 1, 255]);
        let iou = m.iou();
        assert_eq!(iou[0], Some(0.5));
        assert!((iou[1].unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(iou[2], None);
        assert!((m.mean_iou() - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((m.dice()[1].unwrap() - 0.8).abs() < 1e-12);
    }
}
