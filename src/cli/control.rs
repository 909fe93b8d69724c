//! Commands that change a container in place: safe in any process.

use runtime::{Result, Runtime, Signal};

pub(super) fn kill(rt: &Runtime, a: liboci_cli::Kill) -> Result<i32> {
    let signal: Signal = a.signal.parse()?;
    rt.kill(&a.container_id, signal, a.all)?;
    Ok(0)
}

pub(super) fn delete(rt: &Runtime, a: liboci_cli::Delete) -> Result<i32> {
    rt.delete(&a.container_id, a.force)?;
    Ok(0)
}

pub(super) fn pause(rt: &Runtime, a: liboci_cli::Pause) -> Result<i32> {
    rt.pause(&a.container_id)?;
    Ok(0)
}

pub(super) fn resume(rt: &Runtime, a: liboci_cli::Resume) -> Result<i32> {
    rt.resume(&a.container_id)?;
    Ok(0)
}
