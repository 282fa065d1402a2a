// Command ferretdb is polysaga's dev/test launcher for FerretDB v1 (MongoDB wire protocol over
// SQLite or PostgreSQL), built from the Go module proxy by tools/stack/up.sh.
//
// Why not just build github.com/FerretDB/FerretDB/cmd/ferretdb? Its build/version package panics at
// start unless build/version/version.txt exists, and that file is generated, so it is absent from
// the module zip. The check only runs when the binary's main module is FerretDB itself, which is
// what Go >= 1.24 records even when cmd/ferretdb is built from another module (go get -tool + go
// build). Here the main module is ours, so the check is skipped, and we run FerretDB through its
// public embeddable package instead. Only the flags the stack needs are supported.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

const ferretModule = "github.com/FerretDB/FerretDB"

// ferretVersion returns the version of the FerretDB module linked into this binary.
func ferretVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == ferretModule {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func main() {
	handler := flag.String("handler", "sqlite", "backend handler: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite URI (a directory, ending with /) for the sqlite handler")
	postgresqlURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql handler")
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "listen TCP address")
	listenUnix := flag.String("listen-unix", "", "listen Unix domain socket path (optional)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn, error")
	showVersion := flag.Bool("version", false, "print version and exit")
	flag.Parse()

	// Report the real FerretDB version (buildInfo.ferretdbVersion) instead of "unknown".
	info := version.Get()
	info.Version = ferretVersion()

	if *showVersion {
		fmt.Printf("ferretdb %s (embedded in polysaga stack launcher; MongoDB compatibility %s)\n",
			info.Version, info.MongoDBVersion)
		return
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(*logLevel))); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad --log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listenAddr, Unix: *listenUnix},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *postgresqlURL,
	})
	if err != nil {
		logger.Error("ferretdb: failed to start", "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logger.Info("ferretdb: listening", "version", info.Version, "uri", f.MongoDBURI(), "handler", *handler)
	if err := f.Run(ctx); err != nil {
		logger.Error("ferretdb: stopped with error", "error", err)
		os.Exit(1)
	}
	logger.Info("ferretdb: stopped")
}
