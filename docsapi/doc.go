// Package docsapi speaks the ONLYOFFICE Docs API wire protocol: editor
// config types and their signing, document keys, document types by file
// extension, the save callbacks DS posts (with both JWT forms), the JWT on
// DS's downloads of document.url, and clients for DS's command and
// conversion services.
//
// The package is a leaf: it never logs, and every error is returned wrapped,
// matchable with errors.Is and errors.As. Errors never contain tokens.
//
// All JWTs are HS256. Tokens signed with any other algorithm are rejected,
// including the HS384 and HS512 tokens DS itself would accept.
package docsapi
