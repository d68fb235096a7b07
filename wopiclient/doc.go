// Package wopiclient is the WOPI wire protocol: the header and override vocabulary, the
// CheckFileInfo type, typed errors for WOPI replies, UTF-7 name encoding, the Client of
// a WOPI host with the HTTP transport a bridge uses for it (NewHTTPClient), and (in the
// discovery and proof files) discovery parsing, action URLs and proof keys.
//
// It is a leaf package: it never logs and never imports the bridge.
package wopiclient
