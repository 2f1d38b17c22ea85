-- GET $BENCH_PATH (default /api/me), rotating over the session tokens in $COOKIES (one a line).
-- Each thread formats its requests once, in init: request() then only hands back the next
-- string. Formatting one per request (wrk.format builds it in Lua) cost the client enough CPU,
-- on the same two cores as the server, to lower the server's measured rate; the ceiling's
-- rounds, with wrk's static request, pay nothing of the kind.
local tokens = {}
for line in io.lines(os.getenv("COOKIES")) do
  if #line > 0 then tokens[#tokens + 1] = "__Host-session=" .. line end
end
local path = os.getenv("BENCH_PATH") or "/api/me"
local requests = {}
local n = 0
local i = 0
function setup(thread) i = i + 1 ; thread:set("offset", i * 997) end
function init(args)
  for k, token in ipairs(tokens) do
    requests[k] = wrk.format("GET", path, { ["Cookie"] = token })
  end
  n = #requests
  i = tonumber(offset) or 0
end
function request()
  i = i + 1
  return requests[(i % n) + 1]
end
dofile(os.getenv("BENCH_DIR") .. "/summary.lua")
