use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::one_hot;
use burn_losses_conformance::*;

/// Equals the seed's `make_one_hot` (`scatter_`) and `F.one_hot` with zero rows out of range.
fn pytorch_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("one_hot") {
        let actual: Vec<f64> = match case.input_shape.len() {
            // [N, 1, H, W] -> [N, C, H, W]
            4 => values::<B, 4>(one_hot(
                int_tensor::<B, 4>(&case.input, &case.input_shape, &ctx.device),
                case.num_classes,
            )),
            // [N, H, W] -> [N, C, H, W]
            3 => values::<B, 4>(one_hot(
                int_tensor::<B, 3>(&case.input, &case.input_shape, &ctx.device),
                case.num_classes,
            )),
            r => panic!("rank {r}"),
        };
        assert_eq!(actual, case.output, "{}", case.name);
    }
}

fn shapes<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let labels = int_tensor::<B, 1>(&[2., 0.], &[2], &ctx.device);
    let encoded: Tensor<B, 2> = one_hot(labels, 3);
    assert_eq!(values(encoded), vec![0., 0., 1., 1., 0., 0.]);
    let d = ctx.device.clone();
    assert_panics_with(&["one_hot", "[N, 1, ...]", "[2, 3]"], move || {
        one_hot::<B, 2, 2>(Tensor::<B, 2, Int>::zeros([2, 3], &d), 4)
    });
    let d = ctx.device.clone();
    assert_panics_with(&["one_hot", "output rank"], move || {
        one_hot::<B, 2, 4>(Tensor::<B, 2, Int>::zeros([2, 3], &d), 4)
    });
}

backend_tests!(pytorch_fixtures, shapes);
