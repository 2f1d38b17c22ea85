-- GET $BENCH_PATH (default /api/me), rotating over the session tokens in $COOKIES (one a line).
local tokens = {}
for line in io.lines(os.getenv("COOKIES")) do
  if #line > 0 then tokens[#tokens + 1] = "__Host-session=" .. line end
end
local path = os.getenv("BENCH_PATH") or "/api/me"
local i = 0
function setup(thread) i = i + 1 ; thread:set("offset", i * 997) end
function init(args) i = tonumber(offset) or 0 end
function request()
  i = i + 1
  return wrk.format("GET", path, { ["Cookie"] = tokens[(i % #tokens) + 1] })
end
dofile(os.getenv("BENCH_DIR") .. "/summary.lua")
