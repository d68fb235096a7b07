package officeapp

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// The bridge's own discovery (GET /hosting/discovery) is ONLYOFFICE Docs' discovery
// with two changes: every action's urlsrc points at the bridge's entry point
// (/hosting/wopi/{app}/{action}), keeping DS's query with its placeholders, and the
// proof-key element carries the bridge's keys, which sign its calls to the host, not
// DS's. Apps, extensions, defaults, requirements and favicons are DS's, so a host
// offers exactly what the configured ONLYOFFICE Docs can do.

// EntryPrefix is the path of the entry point; an action's URL is
// EntryPrefix + AppSegment(app) + "/" + action.
const EntryPrefix = "/hosting/wopi/"

// CapabilitiesPath is where the bridge answers the Capabilities app's getinfo action.
const CapabilitiesPath = "/hosting/capabilities"

// Actions the entry point serves, and the launch action each one opens: the mobile
// forms open as their desktop forms (ONLYOFFICE adapts to the device by itself).
var entryActions = map[string]string{
	"view":       "view",
	"embedview":  "embedview",
	"edit":       "edit",
	"editnew":    "editnew",
	"convert":    "convert",
	"mobileview": "view",
	"mobileedit": "edit",
}

// LaunchAction is the action the entry point opens for a discovery action name, and
// whether it serves it at all.
func LaunchAction(name string) (string, bool) {
	a, ok := entryActions[strings.ToLower(name)]
	return a, ok
}

// AppSegment is the path segment naming an app in the entry point's URLs: its name,
// lower-cased, with the slash of MIME-named apps ("application/pdf") made a dash.
func AppSegment(app string) string {
	return strings.ReplaceAll(strings.ToLower(app), "/", "-")
}

type xmlDiscovery struct {
	XMLName  xml.Name                 `xml:"wopi-discovery"`
	Zones    []xmlZone                `xml:"net-zone"`
	ProofKey *wopiclient.ProofKeyInfo `xml:"proof-key"`
}

type xmlZone struct {
	Name string   `xml:"name,attr"`
	Apps []xmlApp `xml:"app"`
}

type xmlApp struct {
	Name       string      `xml:"name,attr"`
	FavIconURL string      `xml:"favIconUrl,attr,omitempty"`
	Actions    []xmlAction `xml:"action"`
}

type xmlAction struct {
	Name      string `xml:"name,attr"`
	Ext       string `xml:"ext,attr"`
	Default   string `xml:"default,attr,omitempty"`
	TargetExt string `xml:"targetext,attr,omitempty"`
	Requires  string `xml:"requires,attr,omitempty"`
	URLSrc    string `xml:"urlsrc,attr"`
}

// DiscoveryOptions are what the bridge's discovery is made of.
type DiscoveryOptions struct {
	// DS is ONLYOFFICE Docs' discovery.
	DS *wopiclient.Discovery
	// Base is the bridge's public base URL (WOPIBRIDGE_PUBLIC_URL).
	Base *url.URL
	// DocsPublic is DS's public base URL: favicons are rewritten to it.
	DocsPublic *url.URL
	// Keys are the bridge's proof keys.
	Keys wopiclient.ProofKeys
}

// Discovery renders the bridge's discovery document.
func Discovery(o DiscoveryOptions) ([]byte, error) {
	if o.DS == nil || o.Base == nil || o.Keys.Current == nil {
		return nil, errors.New("officeapp: discovery needs DS's discovery, the public URL and the proof keys")
	}
	base := strings.TrimRight(o.Base.String(), "/")
	zones := map[string]int{}
	var doc xmlDiscovery
	for _, app := range o.DS.Apps {
		xa := xmlApp{Name: app.Name}
		if app.FavIconURL != "" {
			if fav, err := wopiclient.RewriteOrigin(app.FavIconURL, o.DocsPublic); err == nil {
				xa.FavIconURL = fav
			}
		}
		for _, a := range app.Actions {
			src, ok := entryURLSrc(base, app.Name, a)
			if !ok {
				continue
			}
			xc := xmlAction{Name: a.Name, Ext: a.Ext, TargetExt: a.TargetExt, Requires: strings.Join(a.Requires, ","), URLSrc: src}
			if a.Default {
				xc.Default = "true"
			}
			xa.Actions = append(xa.Actions, xc)
		}
		if len(xa.Actions) == 0 {
			continue
		}
		i, ok := zones[app.Zone]
		if !ok {
			i = len(doc.Zones)
			zones[app.Zone] = i
			doc.Zones = append(doc.Zones, xmlZone{Name: app.Zone})
		}
		doc.Zones[i].Apps = append(doc.Zones[i].Apps, xa)
	}
	if len(doc.Zones) == 0 {
		return nil, errors.New("officeapp: ONLYOFFICE Docs' discovery lists no action the bridge can offer")
	}
	pk := wopiclient.NewProofKeyInfo(o.Keys.Current, o.Keys.Old)
	doc.ProofKey = &pk
	out, err := xml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("officeapp: discovery: %w", err)
	}
	return append([]byte(xml.Header[:len(xml.Header)-1]), out...), nil
}

// entryURLSrc is the urlsrc of an action at the bridge: the entry point's path and DS's
// query (its fixed parameters and placeholder sections) as DS wrote it.
func entryURLSrc(base, app string, a wopiclient.Action) (string, bool) {
	if strings.EqualFold(app, "Capabilities") {
		return base + CapabilitiesPath, strings.EqualFold(a.Name, "getinfo")
	}
	if _, ok := LaunchAction(a.Name); !ok {
		return "", false
	}
	_, query, _ := strings.Cut(a.URLSrc, "?")
	return base + EntryPrefix + AppSegment(app) + "/" + a.Name + "?" + query, true
}

// Capabilities is DS's answer to /hosting/capabilities as the bridge gives it: the same
// JSON, but for convert-to, which the bridge does not offer on its own address.
func Capabilities(ds []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ds, &m); err != nil {
		return nil, fmt.Errorf("officeapp: ONLYOFFICE Docs' capabilities are not JSON: %w", err)
	}
	if _, ok := m["convert-to"]; ok {
		m["convert-to"] = json.RawMessage(`{"available":false}`)
	}
	return json.Marshal(m)
}
