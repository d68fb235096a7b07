package wopiclient

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// signedInput is the proof input as Microsoft describes it, built here independently
// of ProofInput: 4-byte big-endian length and bytes of the token, the same for the
// upper-cased URL, then 4-byte length 8 and the 8-byte big-endian ticks.
func signedInput(token, url string, ticks int64) []byte {
	var b []byte
	for _, part := range [][]byte{[]byte(token), []byte(strings.ToUpper(url))} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(ticks))
}

// The signing side against Microsoft's published vectors. The vectors hold public keys
// only, so their signatures cannot be reproduced; what can be checked byte for byte:
//   - the bytes the signer signs (ProofInput) are the bytes Microsoft's client signed:
//     each valid vector's signature verifies over their SHA-256 with Microsoft's key
//     (PKCS#1 v1.5 verification compares the whole digest, so one differing byte of
//     input fails), and they equal the input built independently from the description;
//   - SignProof's output is exactly base64(RSASSA-PKCS1-v1_5(SHA-256(input))) with the
//     key it is given, deterministic, and verifies with VerifyProof;
//   - the invalid vectors' inputs do not verify (the signer's input is not "anything").
func TestSignProofMicrosoftVectors(t *testing.T) {
	var v msVectors
	if err := json.Unmarshal(readTestdata(t, "ms-proof-vectors.json"), &v); err != nil {
		t.Fatal(err)
	}
	msKeys, err := v.Keys.Keys()
	if err != nil {
		t.Fatal(err)
	}
	key := testKey(t, 0)
	mine := ProofKeys{Current: &key.PublicKey}
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			input := ProofInput(c.AccessToken, c.URL, c.Ticks)
			if want := signedInput(c.AccessToken, c.URL, c.Ticks); string(input) != string(want) {
				t.Fatalf("signed input differs from the described layout:\n got %x\nwant %x", input, want)
			}
			digest := sha256.Sum256(input)
			verifies := func(k *rsa.PublicKey, b64 string) bool {
				sig, err := base64.StdEncoding.DecodeString(b64)
				return err == nil && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
			}
			msSigned := verifies(msKeys.Current, c.Proof) || verifies(msKeys.Current, c.ProofOld) || verifies(msKeys.Old, c.Proof)
			if msSigned != c.Valid {
				t.Fatalf("Microsoft's signature over the signer's input verifies: %v, want %v", msSigned, c.Valid)
			}

			got, err := SignProof(key, c.AccessToken, c.URL, c.Ticks)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			if want := base64.StdEncoding.EncodeToString(raw); got != want {
				t.Fatalf("SignProof = %s\nwant       %s", got, want)
			}
			if again, _ := SignProof(key, c.AccessToken, c.URL, c.Ticks); again != got {
				t.Errorf("SignProof is not deterministic")
			}
			if err := VerifyProof(mine, c.AccessToken, c.URL, c.Ticks, got, got); err != nil {
				t.Errorf("VerifyProof of the signer's proof: %v", err)
			}
			if err := VerifyProof(msKeys, c.AccessToken, c.URL, c.Ticks, got, got); err == nil {
				t.Errorf("a proof signed with a test key verifies with Microsoft's keys")
			}
		})
	}
}

// Every request through a Transport with a ProofSigner carries the three headers,
// signed for the URL as sent and the token as issued: CheckFileInfo and GetFile (the
// direct path), Lock and PutFile (Base), and the request after a redirect.
func TestTransportSignsEveryRequest(t *testing.T) {
	cur, old := testKey(t, 0), testKey(t, 1)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var seen []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		url := srv.URL + r.URL.RequestURI()
		ticks, _ := strconv.ParseInt(r.Header.Get(HeaderTimeStamp), 10, 64)
		token := r.URL.Query().Get(ParamAccessToken)
		verdict := "unsigned"
		if ticks == Ticks(now) {
			proofOK := VerifyProof(ProofKeys{Current: &cur.PublicKey}, token, url, ticks, r.Header.Get(HeaderProof), "") == nil
			oldOK := VerifyProof(ProofKeys{Current: &old.PublicKey}, token, url, ticks, r.Header.Get(HeaderProofOld), "") == nil
			verdict = "proof " + strconv.FormatBool(proofOK) + " old " + strconv.FormatBool(oldOK)
		}
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+verdict)
		mu.Unlock()
		switch {
		case r.URL.Path == "/wopi/files/moved":
			http.Redirect(w, r, "/wopi/files/a b?access_token="+token, http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/contents") && r.Method == http.MethodGet:
			w.Write([]byte("bytes"))
		case r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"BaseFileName":"a.docx","Size":5,"Version":"1","UserId":"u"}`))
		default:
			w.Header().Set(HeaderItemVersion, "2")
		}
	}))
	defer srv.Close()

	hc := NewHTTPClient()
	tr := hc.Transport.(*Transport)
	tr.Proof = &ProofSigner{Keys: func() (*rsa.PrivateKey, *rsa.PrivateKey, error) { return cur, old, nil }, Now: func() time.Time { return now }}
	defer tr.CloseIdleConnections()
	c := &Client{HTTP: hc}
	ctx := t.Context()
	token := "tok/with+odd=chars"
	src := srv.URL + "/wopi/files/a%20b"
	if _, err := c.CheckFileInfo(ctx, src, token); err != nil {
		t.Fatal(err)
	}
	contents, err := c.GetFile(ctx, src, token, 0)
	if err != nil {
		t.Fatal(err)
	}
	contents.Close()
	if err := c.Lock(ctx, src, token, "L"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckFileInfo(ctx, srv.URL+"/wopi/files/moved", token); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /wopi/files/a b proof true old true",
		"GET /wopi/files/a b/contents proof true old true",
		"POST /wopi/files/a b proof true old true",
		// The direct path hands a redirect back to the client, which asks again and
		// follows it: each of those requests is signed for its own URL.
		"GET /wopi/files/moved proof true old true",
		"GET /wopi/files/moved proof true old true",
		"GET /wopi/files/a b proof true old true",
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests seen:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// A signer that has no keys fails the call before anything is sent.
func TestTransportSignerWithoutKeys(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	hc := NewHTTPClient()
	hc.Transport.(*Transport).Proof = &ProofSigner{Keys: func() (*rsa.PrivateKey, *rsa.PrivateKey, error) { return nil, nil, errNoKeysForTest }}
	_, err := (&Client{HTTP: hc}).CheckFileInfo(t.Context(), srv.URL+"/wopi/files/x", "t")
	if err == nil || !strings.Contains(err.Error(), "sign proof") || hits != 0 {
		t.Errorf("CheckFileInfo = %v after %d requests", err, hits)
	}
}

var errNoKeysForTest = errors.New("no proof keys loaded")
