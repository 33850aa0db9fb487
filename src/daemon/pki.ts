// Where the daemon's TLS listener and its clients find their certificates: libvirt's file layout
// under the state root, and the listener's default port. Apart from the configuration so the
// CLI's client reads them without loading the configuration's parsing.

/** libvirt's TLS file layout (under the state root). */
export const PKI = {
  caFile: 'etc/pki/CA/cacert.pem',
  serverCert: 'etc/pki/libvirt/servercert.pem',
  serverKey: 'etc/pki/libvirt/private/serverkey.pem',
  clientCert: 'etc/pki/libvirt/clientcert.pem',
  clientKey: 'etc/pki/libvirt/private/clientkey.pem',
} as const;

/** The TLS listener's port unless tls_port says otherwise (libvirtd's 16514 stays free). */
export const DEFAULT_TLS_PORT = 16591;
