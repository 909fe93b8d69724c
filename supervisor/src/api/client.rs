//! The client side of the API, as `davit app` uses it.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use zbus::Connection;
use zbus::zvariant::OwnedValue;

use super::{
    APP_IFACE, DEFAULT_SOCKET, MANAGER_IFACE, MANAGER_PATH, RELEASE_IFACE, SERVICE, Summary,
    app_path,
};

/// Where to find the daemon.
#[derive(Debug, Clone)]
pub enum Target {
    Socket(PathBuf),
    Bus(String),
    /// The system bus when the daemon is on it, else the default socket.
    Default,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the supervisor at {where_}: {reason} (is `davit supervise` running?)")]
    Unreachable { where_: String, reason: String },
    /// The daemon's answer to a call it refused: its D-Bus error name and message.
    #[error("{message}")]
    Refused { name: String, message: String },
    #[error("D-Bus: {0}")]
    Bus(zbus::Error),
}

impl From<zbus::Error> for ClientError {
    fn from(e: zbus::Error) -> Self {
        match e {
            zbus::Error::MethodError(name, message, _) => ClientError::Refused {
                name: name.to_string(),
                message: message.unwrap_or_default(),
            },
            e => ClientError::Bus(e),
        }
    }
}

/// An app as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub name: String,
    pub state: String,
    pub health: String,
    pub pid: u32,
    pub restarts: u32,
    pub last_exit: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// When the state last changed, µs since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The bundle of the latest run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The container of the latest run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

pub struct Client {
    conn: Connection,
    /// The bus name to call on a bus; none peer-to-peer.
    dest: Option<&'static str>,
}

impl Client {
    pub async fn connect(target: &Target) -> Result<Client, ClientError> {
        match target {
            Target::Socket(path) => Self::socket(path).await,
            Target::Bus(addr) => {
                let conn = async {
                    zbus::connection::Builder::address(addr.as_str())?
                        .build()
                        .await
                }
                .await
                .map_err(|e| ClientError::Unreachable {
                    where_: addr.clone(),
                    reason: e.to_string(),
                })?;
                Ok(Client {
                    conn,
                    dest: Some(SERVICE),
                })
            }
            Target::Default => {
                if let Ok(conn) = Connection::system().await {
                    let owned = zbus::fdo::DBusProxy::new(&conn)
                        .await
                        .ok()
                        .map(|p| async move {
                            p.name_has_owner(SERVICE.try_into().expect("a valid bus name"))
                                .await
                        });
                    if let Some(owned) = owned
                        && owned.await.unwrap_or(false)
                    {
                        return Ok(Client {
                            conn,
                            dest: Some(SERVICE),
                        });
                    }
                }
                Self::socket(std::path::Path::new(DEFAULT_SOCKET)).await
            }
        }
    }

    async fn socket(path: &std::path::Path) -> Result<Client, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            where_: path.display().to_string(),
            reason,
        };
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let conn = zbus::connection::Builder::unix_stream(stream)
            .p2p()
            .build()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Client { conn, dest: None })
    }

    async fn call<B, R>(
        &self,
        path: &str,
        iface: &str,
        method: &str,
        body: &B,
    ) -> Result<R, ClientError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
    {
        let reply = self
            .conn
            .call_method(self.dest, path, Some(iface), method, body)
            .await?;
        Ok(reply.body().deserialize()?)
    }

    pub async fn list(&self) -> Result<Vec<AppInfo>, ClientError> {
        let rows: Vec<Summary> = self.call(MANAGER_PATH, MANAGER_IFACE, "List", &()).await?;
        Ok(rows
            .into_iter()
            .map(
                |(name, state, health, pid, restarts, last_exit, reason)| AppInfo {
                    name,
                    state,
                    health,
                    pid,
                    restarts,
                    last_exit,
                    reason,
                    enabled: None,
                    memory: None,
                    status_text: None,
                    since: None,
                    bundle: None,
                    container: None,
                },
            )
            .collect())
    }

    pub async fn status(&self, name: &str) -> Result<AppInfo, ClientError> {
        let path = self.app(name).await?;
        let props: HashMap<String, OwnedValue> = self
            .call(
                &path,
                "org.freedesktop.DBus.Properties",
                "GetAll",
                &(APP_IFACE,),
            )
            .await?;
        let s = |k: &str| {
            props
                .get(k)
                .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
                .unwrap_or_default()
        };
        let u = |k: &str| {
            props
                .get(k)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        Ok(AppInfo {
            name: s("Name"),
            state: s("State"),
            health: s("Health"),
            pid: u("Pid"),
            restarts: u("Restarts"),
            last_exit: s("LastExit"),
            reason: s("Reason"),
            enabled: props.get("Enabled").and_then(|v| bool::try_from(v).ok()),
            memory: props.get("MemoryInUse").and_then(|v| u64::try_from(v).ok()),
            status_text: Some(s("StatusText")),
            since: props.get("Since").and_then(|v| u64::try_from(v).ok()),
            bundle: Some(s("Bundle")),
            container: Some(s("Container")),
        })
    }

    /// The app's object path, after checking that the daemon knows the app: a name that does
    /// not exist gets a clear error instead of D-Bus's "unknown object".
    async fn app(&self, name: &str) -> Result<String, ClientError> {
        let known = self.list().await?.iter().any(|a| a.name == name);
        if !known {
            return Err(ClientError::Refused {
                name: "org.freedesktop.DBus.Error.UnknownObject".into(),
                message: format!(
                    "no app {name} (there is no {name}.toml in the daemon's config directory, or it has not been reloaded)"
                ),
            });
        }
        Ok(app_path(name))
    }

    /// Start, Stop, Restart, Freeze, Thaw, Enable, Disable.
    pub async fn act(&self, name: &str, method: &str) -> Result<(), ClientError> {
        let path = self.app(name).await?;
        self.call::<_, ()>(&path, APP_IFACE, method, &()).await
    }

    pub async fn kill(&self, name: &str, signal: &str) -> Result<(), ClientError> {
        let path = self.app(name).await?;
        self.call::<_, ()>(&path, APP_IFACE, "Kill", &(signal,))
            .await
    }

    pub async fn reload(&self, name: Option<&str>) -> Result<(), ClientError> {
        self.call::<_, ()>(
            MANAGER_PATH,
            MANAGER_IFACE,
            "Reload",
            &(name.unwrap_or(""),),
        )
        .await
    }

    pub async fn logs(&self, name: &str, tail: u32) -> Result<String, ClientError> {
        let path = self.app(name).await?;
        self.call(&path, APP_IFACE, "Logs", &(tail,)).await
    }

    /// The release properties (Phase, Version, Message, Current, Previous, Factory,
    /// Confirmed), by name.
    pub async fn release(&self) -> Result<std::collections::BTreeMap<String, String>, ClientError> {
        let props: HashMap<String, OwnedValue> = self
            .call(
                MANAGER_PATH,
                "org.freedesktop.DBus.Properties",
                "GetAll",
                &(RELEASE_IFACE,),
            )
            .await?;
        Ok(props
            .into_iter()
            .filter_map(|(k, v)| Some((k, String::try_from(v).ok()?)))
            .collect())
    }

    /// An installer's report: `(key, value)` of [`crate::daemon::release::KEYS`].
    pub async fn report_release(&self, fields: &[(&str, &str)]) -> Result<(), ClientError> {
        let map: HashMap<&str, &str> = fields.iter().copied().collect();
        self.call::<_, ()>(MANAGER_PATH, RELEASE_IFACE, "Report", &(map,))
            .await
    }

    pub async fn confirm_release(&self, version: &str) -> Result<(), ClientError> {
        self.call::<_, ()>(MANAGER_PATH, RELEASE_IFACE, "Confirm", &(version,))
            .await
    }

    pub async fn install_release(&self, path: &str, flags: &[&str]) -> Result<(), ClientError> {
        self.call::<_, ()>(MANAGER_PATH, RELEASE_IFACE, "Install", &(path, flags))
            .await
    }
}
