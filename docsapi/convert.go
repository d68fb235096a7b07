package docsapi

import (
	"context"
	"fmt"
	"strconv"
)

// ConvertRequest is a conversion service request.
type ConvertRequest struct {
	// Async makes DS answer at once; repeat the same request until
	// EndConvert. Without it DS answers when the conversion ends.
	Async      bool   `json:"async"`
	FileType   string `json:"filetype"`
	Key        string `json:"key"` // a valid key; the same key and output type reuse DS's result
	OutputType string `json:"outputtype"`
	Title      string `json:"title,omitempty"`
	URL        string `json:"url"` // where DS downloads the source, as for document.url
	Password   string `json:"password,omitempty"`
	Region     string `json:"region,omitempty"`
	CodePage   int    `json:"codePage,omitempty"`
	Delimiter  *int   `json:"delimiter,omitempty"`

	Thumbnail *Thumbnail `json:"thumbnail,omitempty"`
}

// Thumbnail asks for an image of the document.
type Thumbnail struct {
	Aspect int   `json:"aspect"` // 0 stretch, 1 keep aspect, 2 page size
	First  *bool `json:"first,omitempty"`
	Width  int   `json:"width,omitempty"`
	Height int   `json:"height,omitempty"`
}

// ConvertResponse is a conversion service reply.
type ConvertResponse struct {
	FileURL    string      `json:"fileUrl,omitempty"`
	FileType   string      `json:"fileType,omitempty"`
	Percent    int         `json:"percent"`
	EndConvert bool        `json:"endConvert"`
	Error      ConvertCode `json:"error,omitempty"`
}

// ConvertCode is the error code of a conversion reply.
type ConvertCode int

// Conversion error codes.
const (
	ConvertUnknown     ConvertCode = -1
	ConvertTimeout     ConvertCode = -2
	ConvertFailed      ConvertCode = -3
	ConvertDownload    ConvertCode = -4
	ConvertPassword    ConvertCode = -5
	ConvertDatabase    ConvertCode = -6
	ConvertInput       ConvertCode = -7
	ConvertToken       ConvertCode = -8
	ConvertUnknownType ConvertCode = -9
	ConvertSizeLimit   ConvertCode = -10
)

func (c ConvertCode) String() string {
	switch c {
	case 0:
		return "ok"
	case ConvertUnknown:
		return "unknown error"
	case ConvertTimeout:
		return "conversion timed out"
	case ConvertFailed:
		return "conversion failed"
	case ConvertDownload:
		return "DS could not download the source (check that DS reaches this host's public URL)"
	case ConvertPassword:
		return "document is password protected, or the password is wrong"
	case ConvertDatabase:
		return "DS database error"
	case ConvertInput:
		return "invalid request (key, file type or output type)"
	case ConvertToken:
		return "token invalid or expired: check the JWT secret and the clocks"
	case ConvertUnknownType:
		return "source format not recognised"
	case ConvertSizeLimit:
		return "source exceeds DS's size limit"
	}
	return "code " + strconv.Itoa(int(c))
}

// ConvertError is a conversion reply with a non-zero error.
type ConvertError struct {
	Key  string
	Code ConvertCode
}

func (e *ConvertError) Error() string {
	return fmt.Sprintf("docsapi: DS conversion of key %s: error %d (%s)", e.Key, int(e.Code), e.Code)
}

// Convert sends req to the conversion service, asking for JSON. A reply
// with an error gives both the reply and a *ConvertError; failures below
// the protocol give a *ServiceError. With Async, a reply without
// EndConvert is not an error.
func (c *CommandClient) Convert(ctx context.Context, req ConvertRequest) (*ConvertResponse, error) {
	if !ValidKey(req.Key) {
		return nil, fmt.Errorf("docsapi: conversion key %q is not a valid document key", req.Key)
	}
	var resp ConvertResponse
	if err := c.post(ctx, "converter", "converter", req, &resp); err != nil {
		return nil, err
	}
	if resp.Error != 0 {
		return &resp, &ConvertError{Key: req.Key, Code: resp.Error}
	}
	return &resp, nil
}
