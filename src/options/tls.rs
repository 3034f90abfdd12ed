//! TLS settings (the URI Options spec's `tls*` options and the OCSP Support spec).

use std::{fmt, path::PathBuf};

/// TLS settings. Every field is optional; `None` means the default.
///
/// TLS is on when [`enabled`](Self::enabled) is `Some(true)`, or when it is `None` and any
/// other field is set (giving a CA file or relaxing a check only makes sense with TLS);
/// `mongodb+srv` connection strings turn it on unless they say `tls=false`. See
/// [`is_enabled`](Self::is_enabled).
///
/// `Debug` never shows the key file password.
///
/// # Examples
///
/// ```
/// use greenmongo::ClientOptions;
///
/// let opts = ClientOptions::parse("mongodb://h/?tlsCAFile=ca.pem&tlsInsecure=true")?;
/// assert!(opts.tls.is_enabled());
/// assert_eq!(opts.tls.allow_invalid_hostnames, Some(true));
/// assert_eq!(opts.tls.insecure(), Some(true));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// `tls` (alias `ssl`): whether to use TLS.
    pub enabled: Option<bool>,
    /// `tlsCAFile`: PEM file of trusted certificate authorities.
    pub ca_file: Option<PathBuf>,
    /// `tlsCertificateKeyFile`: PEM file with the client certificate and its private key.
    pub cert_key_file: Option<PathBuf>,
    /// `tlsCertificateKeyFilePassword`: password of the encrypted private key.
    pub cert_key_file_password: Option<String>,
    /// `tlsAllowInvalidCertificates`: accept a server certificate that does not verify.
    pub allow_invalid_certificates: Option<bool>,
    /// `tlsAllowInvalidHostnames`: accept a server certificate for another host name.
    pub allow_invalid_hostnames: Option<bool>,
    /// `tlsDisableOCSPEndpointCheck`: do not contact OCSP responders.
    pub disable_ocsp_endpoint_check: Option<bool>,
    /// `tlsDisableCertificateRevocationCheck`: skip revocation checks (CRL and OCSP).
    pub disable_certificate_revocation_check: Option<bool>,
}

impl TlsOptions {
    /// Whether connections use TLS (see the type's docs for the rule).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::TlsOptions;
    ///
    /// let mut tls = TlsOptions::default();
    /// assert!(!tls.is_enabled());
    /// tls.ca_file = Some("ca.pem".into());
    /// assert!(tls.is_enabled());
    /// tls.enabled = Some(false);
    /// assert!(!tls.is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or_else(|| {
            self.ca_file.is_some()
                || self.cert_key_file.is_some()
                || self.cert_key_file_password.is_some()
                || self.allow_invalid_certificates.is_some()
                || self.allow_invalid_hostnames.is_some()
                || self.disable_ocsp_endpoint_check.is_some()
                || self.disable_certificate_revocation_check.is_some()
        })
    }

    /// Applies `tlsInsecure`: `true` allows invalid certificates and host names and turns
    /// off OCSP endpoint and revocation checks; `false` sets all four back to strict.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::TlsOptions;
    ///
    /// let mut tls = TlsOptions::default();
    /// tls.set_insecure(true);
    /// assert_eq!(tls.allow_invalid_certificates, Some(true));
    /// assert_eq!(tls.disable_certificate_revocation_check, Some(true));
    /// ```
    pub fn set_insecure(&mut self, insecure: bool) {
        self.allow_invalid_certificates = Some(insecure);
        self.allow_invalid_hostnames = Some(insecure);
        self.disable_ocsp_endpoint_check = Some(insecure);
        self.disable_certificate_revocation_check = Some(insecure);
    }

    /// The `tlsInsecure` value these settings amount to: `Some(v)` when the four settings
    /// that [`set_insecure`](Self::set_insecure) touches all equal `Some(v)`, else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::TlsOptions;
    ///
    /// let mut tls = TlsOptions::default();
    /// assert_eq!(tls.insecure(), None);
    /// tls.set_insecure(false);
    /// assert_eq!(tls.insecure(), Some(false));
    /// ```
    pub fn insecure(&self) -> Option<bool> {
        let v = self.allow_invalid_certificates?;
        let same = [
            self.allow_invalid_hostnames,
            self.disable_ocsp_endpoint_check,
            self.disable_certificate_revocation_check,
        ]
        .iter()
        .all(|x| *x == Some(v));
        same.then_some(v)
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsOptions");
        d.field("enabled", &self.enabled)
            .field("ca_file", &self.ca_file)
            .field("cert_key_file", &self.cert_key_file);
        match self.cert_key_file_password {
            Some(_) => d.field("cert_key_file_password", &"***"),
            None => d.field("cert_key_file_password", &None::<()>),
        };
        d.field(
            "allow_invalid_certificates",
            &self.allow_invalid_certificates,
        )
        .field("allow_invalid_hostnames", &self.allow_invalid_hostnames)
        .field(
            "disable_ocsp_endpoint_check",
            &self.disable_ocsp_endpoint_check,
        )
        .field(
            "disable_certificate_revocation_check",
            &self.disable_certificate_revocation_check,
        )
        .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_key_password() {
        let tls = TlsOptions {
            cert_key_file_password: Some("hunter2".into()),
            ..TlsOptions::default()
        };
        let shown = format!("{tls:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("cert_key_file_password: \"***\""));
    }

    #[test]
    fn insecure_needs_all_four() {
        let mut tls = TlsOptions::default();
        tls.set_insecure(true);
        tls.allow_invalid_hostnames = Some(false);
        assert_eq!(tls.insecure(), None);
    }
}
