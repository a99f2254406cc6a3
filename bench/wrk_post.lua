-- wrk script of the benchmark: POST the form body given after "--", with its marker
-- UNIQUE replaced by "<thread>-<request>" so that every request sends new data.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local template
local count = 0

function init(args)
  template = args[1]
end

function request()
  count = count + 1
  local body = template:gsub("UNIQUE", string.format("%d-%d", id, count))
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Content-Length"] = nil -- wrk.format counts this body
  return wrk.format("POST", nil, headers, body)
end
