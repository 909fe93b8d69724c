//! Who may change apps: uid 0, or a member of the group given with `--group`. The caller's
//! credentials come from the bus (GetConnectionCredentials) or from the socket (SO_PEERCRED).
//! /etc/passwd and /etc/group are read directly: davit is a static binary, where glibc's NSS
//! lookups are unreliable.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use zbus::fdo;
use zbus::message::Header;

#[derive(Debug, Clone, Default)]
pub struct Access {
    group: Option<Group>,
    /// On a socket connection: the peer's uid and groups, read at accept.
    peer: Option<(u32, Vec<u32>)>,
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

impl Access {
    /// `group`: a group name (or number) from /etc/group.
    pub fn new(group: Option<&str>) -> Result<Access, String> {
        let Some(wanted) = group else {
            return Ok(Access::default());
        };
        let text = std::fs::read_to_string("/etc/group")
            .map_err(|e| format!("--group {wanted}: /etc/group: {e}"))?;
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                continue;
            }
            if f[0] == wanted || f[2] == wanted {
                let gid = f[2]
                    .parse()
                    .map_err(|_| format!("--group {wanted}: /etc/group has a bad gid for it"))?;
                return Ok(Access {
                    peer: None,
                    group: Some(Group {
                        name: f[0].to_owned(),
                        gid,
                        members: f[3]
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    }),
                });
            }
        }
        Err(format!("--group {wanted}: no such group in /etc/group"))
    }

    /// The same rules for the peer of a socket connection, with its credentials: uid and
    /// primary gid from SO_PEERCRED, supplementary groups from SO_PEERGROUPS. Unreadable
    /// credentials leave the caller unknown, which is refused.
    pub fn for_peer(&self, sock: &impl AsFd) -> Access {
        let fd = sock.as_fd();
        let peer = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)
            .ok()
            .map(|c| {
                let mut groups = peer_groups(fd.as_raw_fd()).unwrap_or_default();
                groups.push(c.gid());
                (c.uid(), groups)
            });
        Access {
            group: self.group.clone(),
            peer: peer.or(Some((u32::MAX, Vec::new()))),
        }
    }

    /// Refuses a mutating call from anyone but root and the group's members.
    pub async fn check(
        &self,
        conn: &zbus::Connection,
        hdr: &Header<'_>,
        what: &str,
    ) -> fdo::Result<()> {
        let (uid, groups) = self.caller(conn, hdr, what).await?;
        if uid == 0 {
            return Ok(());
        }
        if let Some(g) = &self.group {
            let (user, primary) = passwd_entry(uid).unwrap_or_default();
            if groups.contains(&g.gid) || primary == Some(g.gid) || g.members.contains(&user) {
                return Ok(());
            }
        }
        Err(fdo::Error::AccessDenied(match &self.group {
            Some(g) => format!(
                "{what}: only root and members of group {} may change apps (caller uid {uid})",
                g.name
            ),
            None => format!(
                "{what}: only root may change apps (caller uid {uid}; the daemon's --group admits others)"
            ),
        }))
    }

    /// Refuses a call from anyone but root: installing a release runs what it brings as root.
    pub async fn check_root(
        &self,
        conn: &zbus::Connection,
        hdr: &Header<'_>,
        what: &str,
    ) -> fdo::Result<()> {
        match self.caller(conn, hdr, what).await?.0 {
            0 => Ok(()),
            uid => Err(fdo::Error::AccessDenied(format!(
                "{what}: only root may install releases (caller uid {uid})"
            ))),
        }
    }

    /// The caller's uid and groups.
    async fn caller(
        &self,
        conn: &zbus::Connection,
        hdr: &Header<'_>,
        what: &str,
    ) -> fdo::Result<(u32, Vec<u32>)> {
        let (uid, groups) = match hdr.sender() {
            Some(sender) => {
                let creds = fdo::DBusProxy::new(conn)
                    .await?
                    .get_connection_credentials(sender.clone().into())
                    .await?;
                (
                    creds.unix_user_id(),
                    creds.unix_group_ids().cloned().unwrap_or_default(),
                )
            }
            None => match &self.peer {
                Some((uid, groups)) => (Some(*uid).filter(|u| *u != u32::MAX), groups.clone()),
                None => {
                    let creds = conn.peer_creds().await.map_err(|e| {
                        fdo::Error::Failed(format!("the caller's credentials: {e}"))
                    })?;
                    (
                        creds.unix_user_id(),
                        creds.unix_group_ids().cloned().unwrap_or_default(),
                    )
                }
            },
        };
        let Some(uid) = uid else {
            return Err(fdo::Error::AccessDenied(format!(
                "{what}: the caller's uid is unknown"
            )));
        };
        Ok((uid, groups))
    }
}

/// The user name and primary gid of a uid, from /etc/passwd.
fn passwd_entry(uid: u32) -> Option<(String, Option<u32>)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| (f[0].to_owned(), f[3].parse().ok()))
    })
}

/// SO_PEERGROUPS (Linux 4.13): the supplementary groups the peer had when it connected.
fn peer_groups(fd: RawFd) -> Option<Vec<u32>> {
    let mut groups = vec![0u32; 256];
    let mut len = (groups.len() * std::mem::size_of::<u32>()) as nix::libc::socklen_t;
    // SAFETY: `groups` is writable for `len` bytes, and the kernel writes at most that many and
    // stores the size it wrote in `len`.
    let rc = unsafe {
        nix::libc::getsockopt(
            fd,
            nix::libc::SOL_SOCKET,
            nix::libc::SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    groups.truncate(len as usize / std::mem::size_of::<u32>());
    Some(groups)
}
