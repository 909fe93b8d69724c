use std::os::fd::RawFd;

/// Closes every descriptor from `first` up except those in `keep`.
///
/// libcontainer's init is a clone of the process that creates it and runs until `start`
/// before it executes the container's program: every descriptor open in davit would reach
/// it, pipes of the caller included (a caller waiting for end-of-file would wait until
/// `start`). runc's init receives only stdio and the preserved descriptors; so does davit's
/// once the command line has called this.
pub fn close_inherited_fds(first: RawFd, keep: &[RawFd]) -> std::io::Result<()> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd >= first && !keep.contains(&fd) {
            // The directory's own descriptor is among them and already closed: EBADF then.
            let _ = nix::unistd::close(fd);
        }
    }
    Ok(())
}
