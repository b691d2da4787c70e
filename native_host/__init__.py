"""The browser-facing side of Cloaker: the native-messaging host (a dumb stdio relay) and the
daemon (websocket server, job queue, settings owner, tray icon). See PROTOCOL.md."""
