//! The human-readable overview of a valid [`Config`] that `berth check` prints
//! (control plane). Invariant: it shows resolved values (defaults filled in, `workers`
//! resolved to a number), so the operator sees what berth will actually do.

use std::fmt::{self, Write as _};

use super::{Config, Listener, LogFormat, Protocol, StaticService};
use crate::model::Layer;

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

impl Config {
    /// A human-readable overview for `berth check`: listeners, admin, Docker, services with
    /// their backends, logging and workers.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_summary(&mut out);
        out
    }

    fn write_summary(&self, out: &mut String) -> fmt::Result {
        writeln!(out, "listeners:")?;
        if self.listeners.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for l in self.listeners.values() {
            write_listener(out, l)?;
        }
        writeln!(out, "admin: {}", self.admin.address)?;
        let d = &self.docker;
        let endpoint = d
            .endpoint
            .as_deref()
            .unwrap_or("DOCKER_HOST or the default socket");
        match d.enabled {
            false => writeln!(out, "docker: disabled")?,
            true => writeln!(out, "docker: {endpoint}, labels {}.*", d.label_prefix)?,
        }
        let s = &self.swarm;
        if s.engine.enabled {
            let endpoint = s
                .engine
                .endpoint
                .as_deref()
                .unwrap_or("DOCKER_HOST or the default socket");
            let refresh = humantime::format_duration(s.refresh);
            let prefix = &s.engine.label_prefix;
            writeln!(
                out,
                "swarm: {endpoint}, service labels {prefix}.*, re-read every {refresh}"
            )?;
        }
        writeln!(out, "services:")?;
        if self.services.is_empty() {
            writeln!(out, "  (none in the file)")?;
        }
        for s in self.services.values() {
            write_service(out, s)?;
        }
        let log = &self.log;
        write!(out, "log: {} {}, access log ", log.level, log.format)?;
        match &log.access_log {
            None => write!(out, "off")?,
            Some(a) => {
                let to = a
                    .path
                    .as_ref()
                    .map_or("stdout".into(), |p| p.display().to_string());
                write!(out, "{} to {to}", a.format.as_str())?;
            }
        }
        writeln!(out, ", trace context {}", log.trace_context.as_str())?;
        writeln!(out, "workers: {}", self.workers)
    }
}

fn write_listener(out: &mut String, l: &Listener) -> fmt::Result {
    write!(out, "  {}  {}  {}", l.name, l.address, l.protocol)?;
    if l.proxy_protocol {
        let from: Vec<String> = l.trusted_ips.iter().map(ToString::to_string).collect();
        write!(out, "  PROXY protocol from {}", from.join(", "))?;
    }
    if let Some(r) = &l.redirect {
        write!(out, "  redirect to {}", r.to)?;
        if let Some(port) = r.port {
            write!(out, " (port {port})")?;
        }
    }
    writeln!(out)?;
    let certificates = l.tls.iter().flat_map(|t| &t.certificates);
    for (i, c) in certificates.enumerate() {
        let default = if i == 0 { " (default)" } else { "" };
        let names = match c.names.is_empty() {
            true => "no DNS names".to_owned(),
            false => c.names.join(", "),
        };
        writeln!(
            out,
            "    certificate {}{default}: {names}",
            c.cert.display()
        )?;
    }
    Ok(())
}

fn write_service(out: &mut String, s: &StaticService) -> fmt::Result {
    if s.spec.layer == Layer::Tcp {
        return write_l4_service(out, s);
    }
    let on = match s.spec.listeners.is_empty() {
        true => "every http listener".to_owned(),
        false => s.spec.listeners.join(", "),
    };
    let hosts = match s.spec.hosts.is_empty() {
        true => "any host".to_owned(),
        false => s.spec.hosts.join(", "),
    };
    let strip = if s.spec.strip_prefix {
        " (stripped)"
    } else {
        ""
    };
    writeln!(
        out,
        "  {}  on {on}  hosts {hosts}  path {}{strip}",
        s.spec.name, s.spec.path
    )?;
    writeln!(
        out,
        "    balance {}  retries {}  timeout {:?}  drain {:?}",
        s.spec.balance, s.spec.retries, s.spec.request_timeout, s.spec.drain
    )?;
    if let Some(h) = &s.spec.hsts {
        writeln!(out, "    hsts on https listeners: {}", h.as_str())?;
    }
    write_policies(out, s)?;
    if let Some(shape) = s.spec.shape.rules() {
        writeln!(out, "    shapes: {}", shape.names().join(", "))?;
    }
    for b in &s.backends {
        writeln!(out, "    -> {}  weight {}", b.address, b.weight)?;
    }
    Ok(())
}

/// The service's policies, one line each.
fn write_policies(out: &mut String, s: &StaticService) -> fmt::Result {
    if let Some(allow) = &s.spec.policies.allow {
        writeln!(out, "    allow {allow}")?;
    }
    if let Some(rate) = &s.spec.policies.rate_limit {
        writeln!(out, "    rate limit {rate}")?;
    }
    if let Some(basic) = &s.spec.policies.basic_auth {
        let names: Vec<&str> = basic.users.iter().map(|u| u.name.as_str()).collect();
        writeln!(
            out,
            "    basic auth realm \"{}\": {}",
            basic.realm,
            names.join(", ")
        )?;
    }
    Ok(())
}

/// An L4 service: its listeners, SNI names on passthrough, PROXY header, backends.
fn write_l4_service(out: &mut String, s: &StaticService) -> fmt::Result {
    write!(
        out,
        "  {}  tcp on {}",
        s.spec.name,
        s.spec.listeners.join(", ")
    )?;
    if !s.spec.hosts.is_empty() {
        write!(out, "  sni {}", s.spec.hosts.join(", "))?;
    }
    writeln!(out)?;
    write!(
        out,
        "    balance {}  retries {}  drain {:?}",
        s.spec.balance, s.spec.retries, s.spec.drain
    )?;
    if let Some(v) = s.spec.proxy_protocol {
        write!(out, "  sends PROXY {v}")?;
    }
    writeln!(out)?;
    write_policies(out, s)?;
    for b in &s.backends {
        writeln!(out, "    -> {}  weight {}", b.address, b.weight)?;
    }
    Ok(())
}
