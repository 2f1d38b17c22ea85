-- POST /api/auth/login with HTTP Basic $BASIC (base64 user:password).
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
wrk.headers["Content-Length"] = "0"
dofile(os.getenv("BENCH_DIR") .. "/summary.lua")
