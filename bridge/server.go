// Package bridge is the application: the WOPI host face, the launch API, access tokens
// and the middleware around them, over one storage.Backend and one state.Store.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/internal/keymutex"
	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// Options configure a Server. Storage and State are owned by the caller, who closes them
// after the Server.
type Options struct {
	PublicURL    *url.URL         // the bridge's base URL as clients reach it (no trailing slash)
	Storage      storage.Backend  // where documents live
	State        state.Store      // durable state (user info, the generated secret, ...)
	Secret       []byte           // signing key for access tokens and signed URLs; empty: load or generate once and keep in State
	LaunchSecret []byte           // HS256 key of launch tokens; empty: demo mode
	TokenTTL     time.Duration    // access token lifetime; 0: 10h
	MaxFileSize  int64            // bodies above this are refused with 413; 0: no limit
	Logger       *logrus.Logger   // nil: discard
	Now          func() time.Time // nil: time.Now
	Docs         DocsOptions      // the Document Server, for the Docs API face

	// Discovery is DS's WOPI discovery (action URLs, favicons, proof keys); nil: built
	// from Docs.URL when it is set, with its fetches counted in the metrics (a cache
	// given here is counted only if its owner set OnFetch).
	Discovery *wopiclient.DiscoveryCache
	// Proof is whether WOPI requests must carry proofs that verify with the keys of
	// Discovery: config.ProofRequire or config.ProofOff; empty: require when there is
	// a Discovery.
	Proof config.ProofMode
	// IPFilter restricts the WOPI and DS-facing routes (/wopi/..., /docs/...) by the
	// TCP peer's address; empty allows all.
	IPFilter config.IPFilter
	// AdminToken, when set, opens the operator's routes for waiting and recovered saves
	// (/admin/v1/saves..., see admin_saves.go) to loopback callers that present it.
	AdminToken string
	// Guard: page policy, operator routes, slow bodies (guard.go).
	Guard GuardOptions
	// App is the office-app face (app.go): the bridge's own proof keys and style.
	App AppOptions
	// Events takes the per-document timeline (package events); nil: events are dropped.
	Events events.Recorder
}

// DefaultTokenTTL is the access token lifetime when Options.TokenTTL is zero.
const DefaultTokenTTL = 10 * time.Hour

// Server serves every face of the bridge.
type Server struct {
	public       string // PublicURL without a trailing slash
	publicOrigin string // scheme://host of PublicURL (PostMessageOrigin: the host page is the bridge's)
	store        storage.Backend
	state        state.Store
	log          *logrus.Logger
	now          func() time.Time
	ttl          time.Duration
	maxSize      int64

	tokens      *tokenCodec
	fileURL     *urlSigner
	launch      *launchVerifier
	folderNames *folderNames
	// versions is the last version of each file seen through the WOPI face of a remote
	// storage: the base a save spooled while it is down is checked against.
	versions *lru.Cache[string, string]
	// tokensSeen are digests of the access tokens whose first CheckFileInfo (a WOPI
	// client opening the file) is on the timeline.
	tokensSeen *lru.Cache[string, struct{}]
	remotePuts keymutex.Map // PutFile on remote storage, one per file at a time

	fileOps   map[wopiclient.Override]wopiOp
	folderOps map[wopiclient.Override]wopiOp
	jsonBufs  *sync.Pool // reply buffers

	idPrefix string        // request ids: random per process ...
	idSeq    atomic.Uint64 // ... and a counter

	docs       *docsFace
	discovery  *wopiclient.DiscoveryCache // nil: no DS
	proof      *wopiclient.ProofVerifier  // nil: proofs not checked
	links      *linkCodec
	ipFilter   config.IPFilter
	adminToken string
	metrics    *metrics
	guard      guard
	replays    *proofReplays // proofs accepted lately
	app        *appFace
	events     events.Recorder // the per-document timeline; never nil
	stop       func()          // ends the background work

	// streamsDone ends the event streams (api_events.go) when the server shuts down.
	streamsDone chan struct{}
	endStreams  sync.Once

	handler http.Handler

	sleep func(context.Context, time.Duration) error // pauses a proof check for a refresh; nil: a timer
}

// New checks the options and builds the server with all its routes.
func New(o Options) (*Server, error) {
	var problems []error
	if o.PublicURL == nil || o.PublicURL.Scheme == "" || o.PublicURL.Host == "" {
		problems = append(problems, errors.New("bridge: PublicURL must be an absolute URL"))
	}
	if o.Storage == nil {
		problems = append(problems, errors.New("bridge: Storage is required"))
	}
	if o.State == nil {
		problems = append(problems, errors.New("bridge: State is required"))
	}
	if o.TokenTTL < 0 || o.MaxFileSize < 0 {
		problems = append(problems, errors.New("bridge: TokenTTL and MaxFileSize must not be negative"))
	}
	switch o.Proof {
	case "", config.ProofOff:
	case config.ProofRequire:
		if o.Discovery == nil && o.Docs.URL == nil {
			problems = append(problems, errors.New("bridge: Proof require needs a Document Server (Docs.URL or Discovery) to read the proof keys from"))
		}
	default:
		problems = append(problems, fmt.Errorf("bridge: Proof %q is neither require nor off", o.Proof))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	s := &Server{
		public:       strings.TrimRight(o.PublicURL.String(), "/"),
		publicOrigin: o.PublicURL.Scheme + "://" + o.PublicURL.Host,
		store:        o.Storage,
		state:        o.State,
		log:          o.Logger,
		now:          o.Now,
		ttl:          o.TokenTTL,
		maxSize:      o.MaxFileSize,
	}
	if s.log == nil {
		s.log = logrus.New()
		s.log.SetOutput(io.Discard)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.events = o.Events
	if s.events == nil {
		s.events = events.Nop{}
	}
	s.streamsDone = make(chan struct{})
	if s.ttl == 0 {
		s.ttl = DefaultTokenTTL
	}
	secret := o.Secret
	if len(secret) == 0 {
		var err error
		if secret, err = loadSecret(o.State); err != nil {
			return nil, err
		}
	}
	s.tokens = newTokenCodec(secret, s.now)
	s.fileURL = newURLSigner(secret, s.now)
	s.launch = newLaunchVerifier(o.LaunchSecret, s.now)
	s.folderNames = newFolderNames(s.now)
	s.versions, _ = lru.New[string, string](4096)
	s.tokensSeen, _ = lru.New[string, struct{}](4096)
	s.jsonBufs = newJSONBufs()
	s.idPrefix = newIDPrefix()
	s.docs = newDocsFace(o.Docs, secret, s.now)
	s.links = newLinkCodec(secret, s.now)
	s.ipFilter = o.IPFilter
	s.adminToken = o.AdminToken
	s.guard = newGuard(o.Guard, o.PublicURL)
	s.replays = newProofReplays(o.State, s.now)
	s.metrics = newMetrics()
	s.app = newAppFace(o.App, o.PublicURL)
	if err := s.setupDiscovery(o); err != nil {
		return nil, err
	}
	sessions, err := session.New(session.Options{
		Storage:     o.Storage,
		State:       o.State,
		KeyPrefix:   keyPrefix(secret),
		MaxFileSize: o.MaxFileSize,
		RetryEvery:  o.Docs.SaveRetryEvery,
		OnEvent:     s.logSessionEvent,
		Now:         s.now,
	})
	if err != nil {
		return nil, err
	}
	s.docs.sessions = sessions
	s.metrics.watchWaitingSaves(sessions.WaitingTotal)
	s.metrics.watchEventDrops(s.events)
	s.fileOps = s.fileOverrides()
	s.folderOps = s.folderOverrides()
	s.handler = s.middleware(s.filterIPs(s.routes()))
	s.startSessions()
	return s, nil
}

// routes registers every route of the bridge.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)

	// WOPI face: files.
	r.Handle("/wopi/files/{id}", s.wopiFile("CheckFileInfo", s.checkFileInfo)).Methods(http.MethodGet)
	r.Handle("/wopi/files/{id}", s.wopiFile("", s.fileOverride)).Methods(http.MethodPost)
	r.Handle("/wopi/files/{id}/contents", s.wopiFile("GetFile", s.getFile)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/wopi/files/{id}/contents", s.wopiFile("PutFile", s.putFile)).Methods(http.MethodPost)
	r.Handle("/wopi/files/{id}/ancestry", s.wopiFile("EnumerateAncestors", s.fileAncestry)).Methods(http.MethodGet)
	r.Handle("/wopi/files/{id}/ecosystem_pointer", s.wopiFile("GetEcosystem", s.ecosystemPointer)).Methods(http.MethodGet)
	// WOPI face: folders (containers).
	r.Handle("/wopi/folders/{id}", s.wopiFolder("CheckFolderInfo", s.checkFolderInfo)).Methods(http.MethodGet)
	r.Handle("/wopi/folders/{id}", s.wopiFolder("", s.folderOverride)).Methods(http.MethodPost)
	r.Handle("/wopi/folders/{id}/children", s.wopiFolder("EnumerateChildren", s.folderChildren)).Methods(http.MethodGet)
	r.Handle("/wopi/folders/{id}/ancestry", s.wopiFolder("EnumerateAncestors", s.folderAncestry)).Methods(http.MethodGet)
	r.Handle("/wopi/folders/{id}/ecosystem_pointer", s.wopiFolder("GetEcosystem", s.ecosystemPointer)).Methods(http.MethodGet)
	// WOPI face: ecosystem.
	r.Handle("/wopi/ecosystem", s.wopiAny("CheckEcosystem", s.checkEcosystem)).Methods(http.MethodGet)
	r.Handle("/wopi/ecosystem", s.wopiAny("", s.ecosystemOverride)).Methods(http.MethodPost)
	r.Handle("/wopi/ecosystem/root_container_pointer", s.wopiAny("GetRootContainer", s.rootContainerPointer)).Methods(http.MethodGet)
	// WOPI face: FileUrl, signed and expiring, no access token.
	r.Handle("/wopi/fileurl/{id}", s.wopiSigned("GetFileUrl", s.getFileURL)).Methods(http.MethodGet, http.MethodHead)

	// Launch API.
	r.Handle("/api/v1/files", s.api("ListFiles", s.listFiles)).Methods(http.MethodGet)
	r.Handle("/api/v1/files", s.api("UploadFile", s.uploadFile)).Methods(http.MethodPost)
	r.Handle("/api/v1/files/{id}", s.api("DescribeFile", s.describeFile)).Methods(http.MethodGet)
	r.Handle("/api/v1/files/{id}/events", s.eventsAPI("FileEvents", s.fileEvents)).Methods(http.MethodGet)
	r.Handle("/api/v1/wopi/session", s.api("WOPISession", s.wopiSession)).Methods(http.MethodPost)
	r.Handle("/api/v1/docs/config", s.api("DocsConfig", s.docsConfig)).Methods(http.MethodPost)
	r.Handle("/api/v1/docs/forcesave", s.api("DocsSaveNow", s.docsSaveNow)).Methods(http.MethodPost)

	// Docs API face: what DS calls.
	r.HandleFunc("/docs/files/{id}/contents", s.docsDownload).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/docs/callback", s.docsCallback).Methods(http.MethodPost)
	r.Handle(ProbePath, NewProbe(s.docs.header, s.docs.outbox)).Methods(http.MethodGet, http.MethodHead)

	// Pages.
	// A launch token holding an upstream access token is exchanged for a bridge link.
	r.Handle("/", s.exchangeLaunch(s.indexHandler())).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/open/{id}", s.exchangeLaunch(s.linkPage("Open", s.openPage))).Methods(http.MethodGet)
	r.Handle("/compare/{id}", s.exchangeLaunch(s.linkPage("Compare", s.comparePage))).Methods(http.MethodGet)
	r.Handle("/files/{id}/timeline", s.exchangeLaunch(s.linkPage("Timeline", s.timelinePage))).Methods(http.MethodGet)
	r.Handle("/assets/{name}", s.assetsHandler()).Methods(http.MethodGet, http.MethodHead)

	// Office-app face: the bridge as an app WOPI hosts register (app_*.go).
	r.Handle("/hosting/discovery", s.appPage("AppDiscovery", s.appDiscovery)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/hosting/capabilities", s.appPage("AppCapabilities", s.appCapabilities)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/hosting/wopi/{app}/{action}", s.appPage("AppOpen", s.appOpen)).Methods(http.MethodPost)

	// Operator.
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/metrics", s.serveMetrics).Methods(http.MethodGet, http.MethodHead)
	s.adminRoutes(r) // saves waiting or recovered, timelines: for "wopibridge saves" and "events"
	return r
}

// ServeHTTP serves every route of the bridge.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Close releases what the Server itself holds. Storage and State belong to the caller.
func (s *Server) Close() error {
	s.EndStreams()
	if s.stop != nil {
		s.stop()
	}
	return nil
}

// notFound and methodNotAllowed answer in the format of the face the path belongs to.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, userErr(errNotFound, "no such endpoint: %s", r.URL.Path))
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, userErr(errMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
}

// fail answers err in the format of the request's face.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch info(r.Context()).face {
	case faceAPI:
		s.apiError(w, r, err)
	default:
		s.wopiError(w, r, err)
	}
}

// wopiSrc is the WOPI URL of a file, as clients reach the bridge.
func (s *Server) wopiSrc(fileID string) string {
	return s.public + "/wopi/files/" + url.PathEscape(fileID)
}

// folderURL is the WOPI URL of a folder.
func (s *Server) folderURL(folderID string) string {
	return s.public + "/wopi/folders/" + url.PathEscape(folderID)
}

// setupDiscovery builds the discovery cache and, when proofs are required, the
// verifier that reads its keys.
func (s *Server) setupDiscovery(o Options) error {
	s.discovery = o.Discovery
	if s.discovery == nil && o.Docs.URL != nil {
		d, err := wopiclient.NewDiscoveryCache(wopiclient.DiscoveryCacheOptions{
			URL: o.Docs.URL.String(), HTTP: s.docs.http, Now: s.now, OnFetch: s.metrics.discoveryFetched,
		})
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		s.discovery = d
	}
	if o.Proof == config.ProofOff || s.discovery == nil {
		return nil
	}
	v, err := wopiclient.NewProofVerifier(wopiclient.ProofVerifierOptions{
		Keys:      s.discovery.ProofKeys,
		Refresh:   s.discovery.RefreshProofKeys,
		PublicURL: o.PublicURL,
		Now:       s.now,
		Wait:      s.waitForProofRefresh,
	})
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	s.proof = v
	return nil
}

// withToken appends an access token to a WOPI URL.
func (s *Server) withToken(u string, t accessToken) string {
	return u + "?" + wopiclient.ParamAccessToken + "=" + url.QueryEscape(s.tokens.sign(t))
}
