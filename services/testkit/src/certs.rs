//! Throwaway certificate authorities and leaf certificates for TLS tests, written as PEM
//! files into a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A CA that signs server and client certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

fn name(common_name: &str, organizations: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    dn
}

impl TestCa {
    pub fn new(common_name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = name(common_name, &[]);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self) -> Identity {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = name("localhost", &[]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate with this CN and O values.
    pub fn client(&self, common_name: &str, organizations: &[&str]) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = name(common_name, organizations);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A directory of PEM files that lives as long as this value.
pub struct PemDir {
    dir: tempfile::TempDir,
}

impl Default for PemDir {
    fn default() -> Self {
        PemDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl PemDir {
    pub fn write(&self, file: &str, pem: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, pem).unwrap();
        path
    }

    /// Writes `<stem>.crt` and `<stem>.key`.
    pub fn identity(&self, stem: &str, identity: &Identity) -> (PathBuf, PathBuf) {
        (
            self.write(&format!("{stem}.crt"), &identity.cert_pem),
            self.write(&format!("{stem}.key"), &identity.key_pem),
        )
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
