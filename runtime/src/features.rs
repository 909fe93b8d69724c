use libcontainer::oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, Features, FeaturesBuilder, IDMapBuilder, LinuxFeatureBuilder,
    LinuxNamespaceType, MountExtensionsBuilder, SeccompBuilder, SelinuxBuilder, VERSION,
};
use libcontainer::syscall::linux::MountOption;

use crate::error::{Error, Result};

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// What this build of davit implements, in runtime-spec's features.json form.
pub fn features() -> Result<Features> {
    let err = |e: &dyn std::fmt::Display| Error::Internal(format!("features: {e}"));
    let namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Time,
    ];
    let cgroup = CgroupBuilder::default()
        .v1(true)
        .v2(true)
        .systemd(false)
        .systemd_user(false)
        .rdma(false)
        .build()
        .map_err(|e| err(&e))?;
    let linux = LinuxFeatureBuilder::default()
        .namespaces(namespaces)
        .capabilities(
            caps::all()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
        )
        .cgroup(cgroup)
        .seccomp(
            SeccompBuilder::default()
                .enabled(true)
                .build()
                .map_err(|e| err(&e))?,
        )
        .apparmor(
            // libcontainer applies a profile only where the host runs AppArmor (as runc
            // reports it).
            ApparmorBuilder::default()
                .enabled(crate::config::apparmor_enabled())
                .build()
                .map_err(|e| err(&e))?,
        )
        .selinux(
            SelinuxBuilder::default()
                .enabled(false)
                .build()
                .map_err(|e| err(&e))?,
        )
        .mount_extensions(
            MountExtensionsBuilder::default()
                .idmap(
                    IDMapBuilder::default()
                        .enabled(false)
                        .build()
                        .map_err(|e| err(&e))?,
                )
                .build()
                .map_err(|e| err(&e))?,
        )
        .build()
        .map_err(|e| err(&e))?;
    FeaturesBuilder::default()
        .oci_version_min("1.0.0".to_owned())
        .oci_version_max(VERSION.to_owned())
        .hooks(HOOKS.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .mount_options(MountOption::known_options())
        .linux(linux)
        .build()
        .map_err(|e| err(&e))
}
