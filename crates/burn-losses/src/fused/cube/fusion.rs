//! The passes as custom operations of Burn's `Fusion` over `CubeBackend` (Burn's default
//! `Wgpu`): each pass is registered on the fusion stream like any other operation and runs the
//! same kernels on the tensors the stream hands it.

use burn::backend::wgpu::CubeBackend;
use burn::tensor::DType;
use burn_cubecl::{BoolElement, CubeRuntime};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{Fusion, FusionBackend, FusionRuntime};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};

use super::passes::Pass;
use super::{Input, KernelBackend};

type Inner<R, BT> = CubeBackend<R, f32, i32, BT>;

impl<R: CubeRuntime, BT: BoolElement> KernelBackend for Fusion<Inner<R, BT>> {
    fn run(pass: Pass, inputs: Vec<Input<Self>>) -> Vec<Self::FloatTensorPrimitive> {
        let tensors: Vec<_> = inputs
            .into_iter()
            .map(|input| match input {
                Input::Float(t) | Input::Int(t) => t,
            })
            .collect();
        let client = tensors[0].client.clone();
        let streams = OperationStreams::with_inputs(&tensors);
        let outputs: Vec<_> = pass
            .output_shapes(&tensors[0].shape)
            .into_iter()
            .map(|shape| TensorIr::uninit(client.create_empty_handle(), shape, DType::F32))
            .collect();
        let inputs: Vec<_> = tensors.into_iter().map(|t| t.into_ir()).collect();
        let desc = CustomOpIr::new("burn_losses::fused", &inputs, &outputs);
        let op = CustomPass::<R, BT> {
            desc: desc.clone(),
            pass,
            _inner: core::marker::PhantomData,
        };
        client.register(streams, OperationIr::Custom(desc), op)
    }
}

/// A pass on the fusion stream.
struct CustomPass<R, BT> {
    desc: CustomOpIr,
    pass: Pass,
    _inner: core::marker::PhantomData<fn() -> (R, BT)>,
}

impl<R, BT> core::fmt::Debug for CustomPass<R, BT> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CustomPass")
            .field("desc", &self.desc)
            .field("pass", &self.pass)
            .finish()
    }
}

impl<R: CubeRuntime, BT: BoolElement> Operation<<Inner<R, BT> as FusionBackend>::FusionRuntime>
    for CustomPass<R, BT>
{
    fn execute(
        &self,
        handles: &mut HandleContainer<
            <<Inner<R, BT> as FusionBackend>::FusionRuntime as FusionRuntime>::FusionHandle,
        >,
    ) {
        let int_input = self.pass.int_input();
        let inputs = self
            .desc
            .inputs
            .iter()
            .enumerate()
            .map(|(i, ir)| match Some(i) == int_input {
                true => handles.get_int_tensor::<Inner<R, BT>>(ir),
                false => handles.get_float_tensor::<Inner<R, BT>>(ir),
            })
            .collect();
        for (ir, output) in self.desc.outputs.iter().zip(self.pass.run(inputs)) {
            handles.register_float_tensor::<Inner<R, BT>>(&ir.id, output);
        }
    }
}
