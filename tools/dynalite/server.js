// server.js runs dynalite's own command line (same flags) for ragmigrate's local stack.
//
// dynalite 4.0.0 rethrows the 'aborted' error of a request whose client went away mid-body
// (index.js: req.on('error', function (err) { throw err })), which kills the whole server. A
// migration tool's tests kill clients mid-request on purpose (kill -9, Ctrl-C), and real
// DynamoDB shrugs those off, so this drops exactly that error and keeps serving; anything else
// still ends the process.
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error(`dynalite: a client aborted its request (${err.message}); still serving`)
    return
  }
  console.error(err)
  process.exit(1)
})

require('dynalite/cli.js')
