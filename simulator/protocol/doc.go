// Package protocol holds the Apple MDM wire format as a device speaks it:
// typed check-in messages, the command envelope a server sends, the command
// results a device returns, and the HTTP transport that carries them, signed
// with a detached CMS Mdm-Signature or authenticated with mutual TLS, and
// the SCEP client (SCEPEnroll) that gets a device its identity.
//
// Apple's key names are kept as they are on the wire (MessageType, UDID,
// CommandUUID, ErrorChain, …) so a reader can hold this package next to
// Apple's schemas. Everything is encoded with github.com/micromdm/plist.
//
// Input from a server is treated as hostile: DecodeCommand never panics and
// reports a typed error that a device turns into a CommandFormatError.
package protocol
