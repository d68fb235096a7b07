package docsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// CommandName is the "c" of a command service request.
type CommandName string

// Command service commands.
const (
	CmdInfo             CommandName = "info"      // sends a status 1 or 4 callback, returns users
	CmdForcesave        CommandName = "forcesave" // status 6 callback, or CommandNotModified
	CmdDrop             CommandName = "drop"      // disconnects users (all if none given)
	CmdMeta             CommandName = "meta"      // renames for co-editors
	CmdVersion          CommandName = "version"
	CmdLicense          CommandName = "license"
	CmdGetForgotten     CommandName = "getForgotten"
	CmdGetForgottenList CommandName = "getForgottenList"
	CmdDeleteForgotten  CommandName = "deleteForgotten"
)

// Command is a command service request.
type Command struct {
	C        CommandName `json:"c"`
	Key      string      `json:"key,omitempty"`
	UserData string      `json:"userdata,omitempty"` // echoed in the callback it triggers
	Users    []string    `json:"users,omitempty"`
	Meta     *Meta       `json:"meta,omitempty"`
	Callback string      `json:"callback,omitempty"` // info: where to send the callback
}

// Meta is Command.Meta.
type Meta struct {
	Title string `json:"title"`
}

// CommandResponse is a command service reply.
type CommandResponse struct {
	Key     string          `json:"key,omitempty"`
	Error   CommandCode     `json:"error"`
	Users   []string        `json:"users,omitempty"`   // info
	Version string          `json:"version,omitempty"` // version
	URL     string          `json:"url,omitempty"`     // getForgotten
	Keys    []string        `json:"keys,omitempty"`    // getForgottenList
	License json.RawMessage `json:"license,omitempty"` // license
	Server  json.RawMessage `json:"server,omitempty"`  // license
	Quota   json.RawMessage `json:"quota,omitempty"`   // license
}

// CommandCode is the error code of a command service reply.
type CommandCode int

// Command service error codes.
const (
	CommandOK           CommandCode = 0
	CommandKeyNotFound  CommandCode = 1
	CommandBadRequest   CommandCode = 2
	CommandInternal     CommandCode = 3
	CommandNotModified  CommandCode = 4
	CommandUnknown      CommandCode = 5
	CommandTokenInvalid CommandCode = 6
	CommandTokenExpired CommandCode = 7
)

func (c CommandCode) String() string {
	switch c {
	case CommandOK:
		return "ok"
	case CommandKeyNotFound:
		return "document key missing or not found"
	case CommandBadRequest:
		return "bad request or callback url"
	case CommandInternal:
		return "internal server error"
	case CommandNotModified:
		return "not modified: nothing to save"
	case CommandUnknown:
		return "unknown command"
	case CommandTokenInvalid:
		return "token invalid: the JWT secret differs from DS's inbox secret, or the request is malformed"
	case CommandTokenExpired:
		return "token expired: check the clocks of DS and this host"
	}
	return "code " + strconv.Itoa(int(c))
}

// CommandError is a command service reply with a non-zero error.
type CommandError struct {
	Command CommandName
	Key     string
	Code    CommandCode
}

func (e *CommandError) Error() string {
	s := fmt.Sprintf("docsapi: DS command %q: error %d (%s)", e.Command, int(e.Code), e.Code)
	if e.Key != "" {
		s += " for key " + e.Key
	}
	return s
}

// Do sends cmd. A reply with a non-zero error gives both the reply and a
// *CommandError; failures below the protocol give a *ServiceError.
func (c *CommandClient) Do(ctx context.Context, cmd Command) (*CommandResponse, error) {
	var resp CommandResponse
	if err := c.post(ctx, "command", "command", cmd, &resp); err != nil {
		return nil, err
	}
	if resp.Error != CommandOK {
		return &resp, &CommandError{Command: cmd.C, Key: cmd.Key, Code: resp.Error}
	}
	return &resp, nil
}

// Forcesave asks DS to save the document now; DS then posts a status 6
// callback carrying userdata. Nothing to save is a *CommandError with
// CommandNotModified.
func (c *CommandClient) Forcesave(ctx context.Context, key, userdata string) error {
	_, err := c.Do(ctx, Command{C: CmdForcesave, Key: key, UserData: userdata})
	return err
}

// Info returns the users editing key. DS also posts a status 1 (users or
// unsaved changes) or 4 callback to the document's callbackUrl.
func (c *CommandClient) Info(ctx context.Context, key string) ([]string, error) {
	resp, err := c.Do(ctx, Command{C: CmdInfo, Key: key})
	if err != nil {
		return nil, err
	}
	return resp.Users, nil
}

// Drop disconnects users from the document, or everyone if users is empty.
func (c *CommandClient) Drop(ctx context.Context, key string, users []string) error {
	_, err := c.Do(ctx, Command{C: CmdDrop, Key: key, Users: users})
	return err
}

// Version returns DS's version, "<build>.<number>". It is the cheapest call
// that proves the secret is accepted.
func (c *CommandClient) Version(ctx context.Context) (string, error) {
	resp, err := c.Do(ctx, Command{C: CmdVersion})
	if err != nil {
		return "", err
	}
	return resp.Version, nil
}
