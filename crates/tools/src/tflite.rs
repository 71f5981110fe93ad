//! Import of int8 TensorFlow Lite models.
use crate::error::{Result, ToolsError};
use aiop_engine::Model;
pub fn import(_data: &[u8]) -> Result<Model> {
    Err(ToolsError::TfliteFormat("todo".into()))
}
