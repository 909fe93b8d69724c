//! The order in which apps start and stop, from their `depends_on`. Pure: the daemon calls it
//! again after every reload.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{App, AppFileError, Condition};

/// Why an app can never start as its files stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// `cycle` starts and ends with the app itself: `["web", "api", "web"]`.
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },

    #[error("depends on {dependency}, which has no app file")]
    Missing { dependency: String },

    #[error("depends on {dependency}, whose app file is invalid")]
    BadFile { dependency: String },

    #[error("depends on {dependency}, which cannot start")]
    Failed { dependency: String },

    /// A condition the dependency can never meet: `ready` without `notify`, or
    /// `service_healthy` without a healthcheck.
    #[error("depends on {dependency} with condition {condition}, but {dependency} {lacks}")]
    Unmeetable {
        dependency: String,
        condition: Condition,
        lacks: &'static str,
    },
}

/// Start and stop order. Each wave is sorted by name; the apps of a wave can start (or stop)
/// in parallel once the previous waves have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every app that can start, each after the apps it depends on.
    pub start: Vec<Vec<String>>,
    /// Every app, failed ones included (a reload can fail an app that is running), each before
    /// the apps it depends on. Apps in one cycle share a wave.
    pub stop: Vec<Vec<String>>,
    /// Apps that cannot start, with the first reason found.
    pub failed: BTreeMap<String, DependencyError>,
}

impl Plan {
    /// The start waves for boot: enabled apps and every app they depend on, as compose starts
    /// a service's dependencies and systemd pulls in a unit's requirements, enabled or not.
    pub fn boot(&self, apps: &[App]) -> Vec<Vec<String>> {
        let by_name: BTreeMap<&str, &App> = apps.iter().map(|a| (a.name.as_str(), a)).collect();
        let mut wanted = BTreeSet::new();
        let mut todo: Vec<&str> = apps
            .iter()
            .filter(|a| a.enabled)
            .map(|a| a.name.as_str())
            .collect();
        while let Some(name) = todo.pop() {
            if wanted.insert(name)
                && let Some(app) = by_name.get(name)
            {
                todo.extend(app.depends_on.iter().map(|d| d.name.as_str()));
            }
        }
        self.start
            .iter()
            .map(|wave| {
                wave.iter()
                    .filter(|n| wanted.contains(n.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|wave| !wave.is_empty())
            .collect()
    }
}

/// Orders `apps` by their dependencies. `bad_files` are the errors of files that did not load:
/// an app depending on one of those fails with that reason instead of "no app file". If two
/// apps share a name, the first one counts.
pub fn plan(apps: &[App], bad_files: &[AppFileError]) -> Plan {
    let mut names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut node_app: Vec<Option<&App>> = vec![None; names.len()];
    for app in apps {
        let slot = &mut node_app[index[app.name.as_str()]];
        if slot.is_none() {
            *slot = Some(app);
        }
    }
    let node_app: Vec<&App> = node_app.into_iter().flatten().collect();
    let bad: BTreeSet<String> = bad_files.iter().filter_map(AppFileError::app).collect();

    // Edges point from an app to what it depends on; `required` ones can make it fail.
    let mut edges: Vec<Vec<(usize, bool)>> = vec![Vec::new(); names.len()];
    let mut failed: Vec<Option<DependencyError>> = vec![None; names.len()];
    for (i, app) in node_app.iter().enumerate() {
        for dep in &app.depends_on {
            let problem = match index.get(dep.name.as_str()) {
                Some(&j) => {
                    edges[i].push((j, dep.required));
                    unmeetable(node_app[j], dep.condition)
                }
                None if !dep.required => None,
                None if bad.contains(&dep.name) => Some(DependencyError::BadFile {
                    dependency: dep.name.clone(),
                }),
                None => Some(DependencyError::Missing {
                    dependency: dep.name.clone(),
                }),
            };
            if failed[i].is_none() {
                failed[i] = problem;
            }
        }
    }

    let adjacency: Vec<Vec<usize>> = edges
        .iter()
        .map(|e| e.iter().map(|(j, _)| *j).collect())
        .collect();
    let sccs = strongly_connected(&adjacency);
    let mut scc_of = vec![0; names.len()];
    for (c, scc) in sccs.iter().enumerate() {
        for &v in scc {
            scc_of[v] = c;
        }
    }
    for scc in &sccs {
        let cyclic = scc.len() > 1 || adjacency[scc[0]].contains(&scc[0]);
        if !cyclic {
            continue;
        }
        for &v in scc {
            let cycle = shortest_cycle(v, &adjacency, |w| scc_of[w] == scc_of[v]);
            // A cycle says more than a missing dependency next to it.
            failed[v] = Some(DependencyError::Cycle {
                cycle: cycle.into_iter().map(|w| names[w].to_owned()).collect(),
            });
        }
    }

    // Tarjan emits a component after every component it reaches, so dependencies come first:
    // a failure propagates in one pass, and levels are final when read.
    let order: Vec<usize> = sccs.iter().flatten().copied().collect();
    for &v in &order {
        if failed[v].is_some() {
            continue;
        }
        if let Some(&(dep, _)) = edges[v]
            .iter()
            .find(|(dep, required)| *required && failed[*dep].is_some())
        {
            failed[v] = Some(DependencyError::Failed {
                dependency: names[dep].to_owned(),
            });
        }
    }

    let mut start_level = vec![0usize; names.len()];
    let mut start: Vec<Vec<String>> = Vec::new();
    for &v in &order {
        if failed[v].is_some() {
            continue;
        }
        // Optional dependencies that failed are left out; the others are ordered.
        let level = edges[v]
            .iter()
            .filter(|(dep, _)| failed[*dep].is_none())
            .map(|(dep, _)| start_level[*dep] + 1)
            .max()
            .unwrap_or(0);
        start_level[v] = level;
        put(&mut start, level, names[v]);
    }

    let mut scc_level = vec![0usize; sccs.len()];
    let mut stop: Vec<Vec<String>> = Vec::new();
    for (c, scc) in sccs.iter().enumerate() {
        let level = scc
            .iter()
            .flat_map(|&v| &adjacency[v])
            .filter(|&&w| scc_of[w] != c)
            .map(|&w| scc_level[scc_of[w]] + 1)
            .max()
            .unwrap_or(0);
        scc_level[c] = level;
        for &v in scc {
            put(&mut stop, level, names[v]);
        }
    }
    stop.reverse();
    for wave in start.iter_mut().chain(stop.iter_mut()) {
        wave.sort_unstable();
    }

    Plan {
        start,
        stop,
        failed: failed
            .into_iter()
            .enumerate()
            .filter_map(|(v, f)| f.map(|f| (names[v].to_owned(), f)))
            .collect(),
    }
}

fn put(waves: &mut Vec<Vec<String>>, level: usize, name: &str) {
    if waves.len() <= level {
        waves.resize_with(level + 1, Vec::new);
    }
    waves[level].push(name.to_owned());
}

fn unmeetable(dependency: &App, condition: Condition) -> Option<DependencyError> {
    let lacks = match condition {
        Condition::Ready if !dependency.notify => "does not set notify = true",
        Condition::ServiceHealthy if dependency.healthcheck.is_none() => "has no healthcheck",
        _ => return None,
    };
    Some(DependencyError::Unmeetable {
        dependency: dependency.name.clone(),
        condition,
        lacks,
    })
}

/// Tarjan's strongly connected components, iterative so that a long dependency chain cannot
/// overflow the daemon's stack. Components come out in reverse topological order: each after
/// every component its edges reach.
fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = adjacency.len();
    let mut index: Vec<Option<usize>> = vec![None; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut sccs = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root].is_some() {
            continue;
        }
        // (node, position of its next edge to look at)
        let mut calls = vec![(root, 0)];
        index[root] = Some(next);
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, edge)) = calls.last() {
            if let Some(&w) = adjacency[v].get(edge) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                match index[w] {
                    None => {
                        index[w] = Some(next);
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    }
                    Some(iw) if on_stack[w] => low[v] = low[v].min(iw),
                    Some(_) => {}
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if Some(low[v]) == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                scc.sort_unstable();
                sccs.push(scc);
            }
        }
    }
    sccs
}

/// The shortest path from `start` back to itself through nodes accepted by `inside`, as
/// `[start, ..., start]`; only called for nodes on a cycle.
fn shortest_cycle(
    start: usize,
    adjacency: &[Vec<usize>],
    inside: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &adjacency[v] {
            if w == start {
                let mut back = Vec::new();
                let mut at = v;
                while at != start {
                    back.push(at);
                    match came_from.get(&at) {
                        Some(&from) => at = from,
                        None => break,
                    }
                }
                let mut path = vec![start];
                path.extend(back.into_iter().rev());
                path.push(start);
                return path;
            }
            if inside(w) && !came_from.contains_key(&w) && w != start {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start, start]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::app::Dependency;

    /// An app from a one-line spec: `"web: db cache?"` depends on db and, optionally, cache.
    fn app(spec: &str) -> App {
        let (name, deps) = spec.split_once(':').unwrap_or((spec, ""));
        let mut text = String::from("bundle = \"b\"\n");
        for dep in deps.split_whitespace() {
            let (dep, required) = match dep.strip_suffix('?') {
                Some(dep) => (dep, false),
                None => (dep, true),
            };
            text.push_str(&format!("depends_on.{dep:?}.required = {required}\n"));
        }
        App::parse(Path::new(&format!("/apps/{}.toml", name.trim())), &text).expect(spec)
    }

    fn apps(specs: &[&str]) -> Vec<App> {
        specs.iter().map(|s| app(s)).collect()
    }

    fn waves(w: &[Vec<String>]) -> Vec<Vec<&str>> {
        w.iter()
            .map(|wave| wave.iter().map(String::as_str).collect())
            .collect()
    }

    fn reasons(plan: &Plan) -> Vec<String> {
        plan.failed
            .iter()
            .map(|(name, why)| format!("{name}: {why}"))
            .collect()
    }

    #[test]
    fn independent_apps_share_a_wave_and_stop_in_reverse() {
        let plan = plan(
            &apps(&["web: api db", "api: db", "db", "metrics", "ui: web"]),
            &[],
        );
        assert_eq!(
            waves(&plan.start),
            [vec!["db", "metrics"], vec!["api"], vec!["web"], vec!["ui"]]
        );
        assert_eq!(
            waves(&plan.stop),
            [vec!["ui"], vec!["web"], vec!["api"], vec!["db", "metrics"]]
        );
        assert!(plan.failed.is_empty());
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let plan = plan(&apps(&["web: web", "db"]), &[]);
        assert_eq!(reasons(&plan), ["web: dependency cycle: web -> web"]);
        assert_eq!(waves(&plan.start), [vec!["db"]]);
        assert_eq!(waves(&plan.stop), [vec!["db", "web"]]);
    }

    #[test]
    fn three_cycle_fails_its_apps_and_what_needs_them_the_rest_is_ordered() {
        let plan = plan(
            &apps(&[
                "a: b", "b: c", "c: a", "d: a", "e: d?", "web: db", "db", "x: c db",
            ]),
            &[],
        );
        assert_eq!(
            reasons(&plan),
            [
                "a: dependency cycle: a -> b -> c -> a",
                "b: dependency cycle: b -> c -> a -> b",
                "c: dependency cycle: c -> a -> b -> c",
                "d: depends on a, which cannot start",
                "x: depends on c, which cannot start",
            ]
        );
        // e needs d only optionally, so it starts without it.
        assert_eq!(waves(&plan.start), [vec!["db", "e"], vec!["web"]]);
        // Stopping: dependents first, the cycle's apps together.
        assert_eq!(
            waves(&plan.stop),
            [vec!["e"], vec!["d", "web", "x"], vec!["a", "b", "c", "db"]]
        );
    }

    #[test]
    fn cycle_in_a_larger_component_names_a_real_cycle() {
        // a <-> b and b <-> c: one component, two cycles through b.
        let plan = plan(&apps(&["a: b", "b: a c", "c: b"]), &[]);
        assert_eq!(
            reasons(&plan),
            [
                "a: dependency cycle: a -> b -> a",
                "b: dependency cycle: b -> a -> b",
                "c: dependency cycle: c -> b -> c",
            ]
        );
        assert!(plan.start.is_empty());
    }

    #[test]
    fn missing_and_bad_dependencies() {
        let bad = App::parse(Path::new("/apps/db.toml"), "restart = 1").unwrap_err();
        let plan = plan(
            &apps(&["web: db", "api: auth", "ui: api", "opt: auth? db?"]),
            &bad,
        );
        assert_eq!(
            reasons(&plan),
            [
                "api: depends on auth, which has no app file",
                "ui: depends on api, which cannot start",
                "web: depends on db, whose app file is invalid",
            ]
        );
        assert_eq!(waves(&plan.start), [vec!["opt"]]);
        assert_eq!(waves(&plan.stop), [vec!["ui"], vec!["api", "opt", "web"]]);
    }

    #[test]
    fn conditions_that_can_never_be_met() {
        let mut web = app("web");
        web.depends_on = vec![
            Dependency {
                name: "db".into(),
                condition: Condition::ServiceHealthy,
                required: true,
            },
            Dependency {
                name: "bus".into(),
                condition: Condition::Ready,
                required: false,
            },
        ];
        let mut api = app("api: bus");
        api.depends_on[0].condition = Condition::Ready;
        let mut bus = app("bus");
        let plan1 = plan(&[web.clone(), api.clone(), app("db"), bus.clone()], &[]);
        assert_eq!(
            reasons(&plan1),
            [
                "api: depends on bus with condition ready, but bus does not set notify = true",
                "web: depends on db with condition service_healthy, but db has no healthcheck",
            ]
        );
        bus.notify = true;
        let plan2 = plan(&[web, api, app("db"), bus], &[]);
        assert_eq!(
            reasons(&plan2),
            ["web: depends on db with condition service_healthy, but db has no healthcheck"]
        );
        assert_eq!(waves(&plan2.start), [vec!["bus", "db"], vec!["api"]]);
    }

    #[test]
    fn boot_starts_enabled_apps_and_what_they_need() {
        let mut all = apps(&["web: api", "api: db", "db", "tool", "debug: db"]);
        for a in &mut all {
            a.enabled = matches!(a.name.as_str(), "web" | "tool");
        }
        let plan = plan(&all, &[]);
        assert_eq!(
            waves(&plan.start),
            [vec!["db", "tool"], vec!["api", "debug"], vec!["web"]]
        );
        assert_eq!(
            waves(&plan.boot(&all)),
            [vec!["db", "tool"], vec!["api"], vec!["web"]]
        );
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 20_000;
        let all: Vec<App> = (0..n)
            .map(|i| {
                let mut a = app(&format!("a{i}"));
                if i > 0 {
                    a.depends_on = vec![Dependency {
                        name: format!("a{}", i - 1),
                        condition: Condition::ServiceStarted,
                        required: true,
                    }];
                }
                a
            })
            .collect();
        let plan = plan(&all, &[]);
        assert_eq!(plan.start.len(), n);
        assert_eq!(plan.start[n - 1], [format!("a{}", n - 1)]);
    }
}
