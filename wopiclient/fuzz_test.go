package wopiclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func FuzzParseDiscovery(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, which is slow for large ones.
	proofKey := regexp.MustCompile(`<proof-key [^>]*/>`).Find(readTestdata(f, "discovery-real.xml"))
	f.Add([]byte(`<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-http">` +
		`<app name="Word" favIconUrl="http://ds/f.ico"><action name="view" ext="doc" default="true" urlsrc="http://ds/hosting/wopi/word/view?` +
		xmlEscape(realTemplate) + `"/><action name="convert" ext="doc" targetext="docx" requires="update" urlsrc="http://ds/hosting/wopi/convert-and-edit/doc/docx?` +
		xmlEscape(realTemplate) + `"/></app><app name="application/pdf"><action name="edit" ext="" requires="locks,update" urlsrc="http://ds/e?embed=1&amp;"/></app>` +
		`<app name="Capabilities"><action name="getinfo" requires="locks,update" urlsrc="http://ds/hosting/capabilities"/></app></net-zone>` +
		string(proofKey) + `</wopi-discovery>`))
	f.Add([]byte(`<wopi-discovery><net-zone name="z"><app name="Word"><action name="edit" ext="docx" default="true" urlsrc="http://ds/e?&lt;ui=UI_LLCC&amp;&gt;&amp;"/></app></net-zone></wopi-discovery>`))
	f.Add([]byte(`<wopi-discovery><net-zone/><proof-key value="BgIAAACkAABSU0ExAAgAAAEAAQ==" modulus="AAAA" exponent="AQAB"/></wopi-discovery>`))
	f.Add([]byte(`<wopi-discovery><net-zone name="z"><app name="x"><action name="view" ext="." urlsrc="&lt;a=&gt;"/></app></net-zone></wopi-discovery>`))
	public, _ := url.Parse("https://docs.example.com/prefix")
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := ParseDiscovery(bytes.NewReader(doc))
		if err != nil {
			return
		}
		_, _ = d.ProofKeys()
		params := map[string]string{PlaceholderUILLCC: "en-US", PlaceholderSessionContext: "a&b"}
		for _, app := range d.Apps {
			for _, a := range app.Actions {
				got, err := a.URL("https://bridge/wopi/files/1", params, public)
				if err == nil && !strings.Contains(got, "WOPISrc=https%3A%2F%2Fbridge%2Fwopi%2Ffiles%2F1") {
					t.Fatalf("URL %q lacks WOPISrc", got)
				}
				d.Action(a.Name, a.Ext)
				d.DefaultAction(a.Ext)
				d.FavIconURL(a.Ext)
				d.AppAction(app.Name, a.Name)
			}
		}
	})
}

func FuzzActionURL(f *testing.F) {
	f.Add("http://127.0.0.1:8000/hosting/wopi/word/edit?"+realTemplate, "http://bridge/wopi/files/a", "de-DE", "https://docs.example.com")
	f.Add("http://ds/x?embed=1&<ui=UI_LLCC&><wopisrc=WOPI_SOURCE&>&#frag", "https://b/wopi/files/%2F", "a b&c", "")
	f.Add("http://ds/x?<ui=UI_LLCC&", "w", "", "http://p:1/q/")
	f.Fuzz(func(t *testing.T, urlsrc, wopiSrc, lang, public string) {
		var pub *url.URL
		if public != "" {
			var err error
			if pub, err = url.Parse(public); err != nil {
				return
			}
		}
		a := Action{Name: "edit", Ext: "docx", URLSrc: urlsrc}
		got, err := a.URL(wopiSrc, map[string]string{PlaceholderUILLCC: lang}, pub)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("URL %q does not parse: %v", got, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("URL %q is not http(s)", got)
		}
		if !strings.Contains(got, "WOPISrc="+url.QueryEscape(wopiSrc)) {
			t.Fatalf("URL %q lacks WOPISrc", got)
		}
		if strings.ContainsAny(got, "<>") {
			t.Fatalf("URL %q keeps a template section", got)
		}
	})
}

func FuzzProofInput(f *testing.F) {
	f.Add("at-simple-123", "http://127.0.0.1:9100/wopi/files/abc?access_token=at-simple-123", int64(639310100013320000))
	f.Add("", "", int64(0))
	f.Add("ä'ß", "http://h/ß?x=%27", int64(-1))
	f.Fuzz(func(t *testing.T, token, u string, ticks int64) {
		b := ProofInput(token, u, ticks)
		upper := strings.ToUpper(u)
		if len(b) != 4+len(token)+4+len(upper)+4+8 {
			t.Fatalf("length %d", len(b))
		}
		be := binary.BigEndian
		if int(be.Uint32(b)) != len(token) || string(b[4:4+len(token)]) != token {
			t.Fatal("token field")
		}
		rest := b[4+len(token):]
		if int(be.Uint32(rest)) != len(upper) || string(rest[4:4+len(upper)]) != upper {
			t.Fatal("URL field")
		}
		rest = rest[4+len(upper):]
		if be.Uint32(rest) != 8 || int64(be.Uint64(rest[4:])) != ticks {
			t.Fatal("timestamp field")
		}
	})
}

// FuzzVerifyProof feeds arbitrary request targets and proof headers to the verifier
// with the real DocService keys: it must never panic nor accept a forgery.
func FuzzVerifyProof(f *testing.F) {
	keys, err := parseTestdata(f, "discovery-real.xml").ProofKeys()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 5, 53, 21, 354_000_000, time.UTC)
	v, err := NewProofVerifier(ProofVerifierOptions{
		Keys:      func(context.Context) (ProofKeys, error) { return keys, nil },
		Refresh:   func(context.Context) (ProofKeys, error) { return keys, nil },
		PublicURL: &url.URL{Scheme: "http", Host: "127.0.0.1:9100"},
		Now:       func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	// The first captured request, with one bit of its proof changed.
	f.Add("/wopi/files/abc?access_token=at-simple-123", "at-simple-123", "639310100013320000",
		"LrgF1GyoLfosCL+oMDA66LYnybFfUnKMhB7lUbQd4lpdzgnaSJui7uk+rhNowQdokAoNLC88GyUBrB8FrVeC88bHcph0grxhoYuiHe/uYiKhxvMB6I1BtsJ7MM7ikhyww+hy/E0vIJtXbLJWUmKiWqw/RXGDPkkdA3jeVqPaPlJaAYFT1o8Ouzz2iCNsDQaCY+hFkriuIR1BgX+8eCXybQfDkZ8Dc9mmKS+hYaEPe6unhb33KqFhobfwAI0E0LRSKXOgFWrClHItG/tOdyjBgjhtJeWMrO0otai2a9Lnc8/4c4CglY0/ct3l/yvu/lNlrp/6sCctaGPr+OJa9UHBIw==",
		"")
	f.Add("/wopi/files/x%27?access_token=%27%27", "''", "-1", "AAAA", "====")
	f.Add("/", "", "99999999999999999999", "", "x")
	f.Fuzz(func(t *testing.T, target, token, ts, proof, proofOld string) {
		r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9100"+target, nil)
		if err != nil {
			return
		}
		r.Header.Set(HeaderTimeStamp, ts)
		r.Header.Set(HeaderProof, proof)
		r.Header.Set(HeaderProofOld, proofOld)
		_ = ProofURL(v.public, r)
		if err := v.Verify(context.Background(), r, token); err == nil {
			t.Fatalf("forged proof accepted: target %q token %q ts %q", target, token, ts)
		}
	})
}

func FuzzParsePublicKeyBlob(f *testing.F) {
	d := parseTestdata(f, "discovery-real.xml")
	for _, v := range []string{d.ProofKey.Value, d.ProofKey.OldValue} {
		blob, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob)
	}
	f.Add([]byte{6, 2, 0, 0, 0, 0xa4, 0, 0, 'R', 'S', 'A', '1', 0, 8, 0, 0, 1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		k, err := ParsePublicKeyBlob(blob)
		if err != nil {
			return
		}
		again, err := ParsePublicKeyBlob(PublicKeyBlob(k))
		if err != nil || !again.Equal(k) {
			t.Fatalf("re-encoded blob: %v", err)
		}
	})
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
