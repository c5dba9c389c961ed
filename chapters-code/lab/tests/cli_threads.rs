//! `--threads` must reach candle before its thread pools exist, so this test runs in its own process
//! (an integration-test binary with a single test): it sets the count, then checks what candle sees
//! and that tensor ops still run.

use candle_core::{Device, Tensor};

#[test]
fn set_threads_is_what_candle_uses() -> anyhow::Result<()> {
    lab::threads::set_threads(1)?;
    assert_eq!(candle_core::utils::get_num_threads(), 1);
    assert_eq!(std::env::var("CANDLE_NUM_THREADS")?, "1");
    let a = Tensor::ones((64, 64), candle_core::DType::F32, &Device::Cpu)?;
    let s = a.matmul(&a)?.sum_all()?.to_scalar::<f32>()?;
    assert_eq!(s, 64.0 * 64.0 * 64.0);
    assert!(lab::threads::set_threads(0).unwrap_err().to_string().contains("at least 1"));
    Ok(())
}
