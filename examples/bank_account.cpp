// A bank account shared by 100 customers: shared state under a goro::mutex (Go by
// Example's "Mutexes", with a check-then-act that must not be interleaved).
//
//   mu.Lock()                                   auto lock = co_await mu.scoped_lock();
//   defer mu.Unlock()                           // lock's destructor unlocks
//
// The balance is a plain std::int64_t guarded by a goro::mutex. A withdrawal reads the
// balance, then "asks the fraud service" (a co_await: the task suspends while it holds
// the lock and may resume on another worker thread), then debits the account only if
// the money was there. Two withdrawals that interleaved between the read and the debit
// could both see enough money and overdraw the account; the mutex makes the three steps
// one. A std::mutex could not be used here: holding it across a co_await blocks a worker
// thread, and unlocking it on another thread than the one that locked it is undefined.
//
// The statement (every transaction with the balance after it) is guarded by a
// goro::shared_mutex: auditor tasks read it together under shared locks while a writer
// appends under the exclusive lock. Lock order: the account's mutex before the
// statement's (a writer holds both; an auditor takes only the statement's), so no cycle.
//
// Checks (exit status 1 if one fails): the balance never went below zero (checked
// inside the critical section, after every debit); the final balance is the initial one
// plus every deposit minus every successful withdrawal; the statement has one line per
// transaction, each consistent with the one before; every audit found it consistent.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

using namespace std::chrono_literals;

struct statement_line {
  std::int64_t amount;         // positive: deposit; negative: withdrawal
  std::int64_t balance_after;  // the balance once it was applied
};

struct audit_result {
  bool consistent = true;
  std::size_t lines = 0;
};

class account {
 public:
  explicit account(std::int64_t initial) : initial_(initial), balance_(initial) {}

  goro::task<> deposit(std::int64_t amount) {
    auto lock = co_await mu_.scoped_lock();
    balance_ += amount;
    co_await record(amount);
  }

  // Debits amount if the balance covers it; returns whether it did.
  goro::task<bool> withdraw(std::int64_t amount) {
    auto lock = co_await mu_.scoped_lock();
    const std::int64_t seen = balance_;
    co_await goro::yield();  // the fraud check: other tasks run meanwhile, but none of them can touch balance_
    if (seen < amount) co_return false;
    balance_ = seen - amount;
    if (balance_ < 0) went_negative_ = true;  // impossible with the lock held throughout
    co_await record(-amount);
    co_return true;
  }

  struct snapshot {
    std::int64_t balance;
    bool went_negative;
  };
  goro::task<snapshot> read() {
    auto lock = co_await mu_.scoped_lock();
    co_return snapshot{balance_, went_negative_};
  }

  // Replays the statement under a shared lock: each line must follow from the previous
  // one and never be below zero.
  goro::task<audit_result> audit() {
    auto lock = co_await statement_mu_.scoped_lock_shared();
    audit_result r;
    std::int64_t running = initial_;
    for (const auto& line : statement_) {
      running += line.amount;
      r.consistent &= running == line.balance_after && running >= 0;
    }
    r.lines = statement_.size();
    co_return r;
  }

 private:
  // Called with mu_ held (lock order: mu_, then statement_mu_).
  goro::task<> record(std::int64_t amount) {
    auto lock = co_await statement_mu_.scoped_lock();
    statement_.push_back({amount, balance_});
  }

  const std::int64_t initial_;
  goro::mutex mu_;
  std::int64_t balance_;        // under mu_
  bool went_negative_ = false;  // under mu_
  goro::shared_mutex statement_mu_;
  std::vector<statement_line> statement_;  // under statement_mu_ (appended with mu_ held too)
};

// What one customer did.
struct tally {
  std::int64_t deposited = 0;
  std::int64_t withdrawn = 0;
  int deposits = 0;
  int withdrawals = 0;  // successful ones
  int refused = 0;
};

// A customer makes `ops` transactions of 1..100, 1 ms apart: three in ten are deposits.
// Withdrawals outweigh deposits, so the account runs dry and many withdrawals are refused.
goro::task<tally> customer(account* acct, unsigned seed, int ops) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> amount(1, 100), coin(0, 9);
  tally t;
  for (int i = 0; i < ops; ++i) {
    co_await goro::sleep_for(1ms);  // the customer thinks (without the lock)
    const std::int64_t a = amount(rng);
    if (coin(rng) < 3) {
      co_await acct->deposit(a);
      t.deposited += a;
      ++t.deposits;
    } else {
      const bool paid = co_await acct->withdraw(a);
      if (paid) {
        t.withdrawn += a;
        ++t.withdrawals;
      } else {
        ++t.refused;
      }
    }
  }
  co_return t;
}

// What one auditor saw; read by main after it joined the auditor.
struct audit_log {
  int audits = 0;
  int failed = 0;
  std::size_t most_lines = 0;  // the longest statement it replayed
};

// Audits the statement every 2 ms until ctx is cancelled (at least once).
goro::task<> auditor(goro::context ctx, account* acct, audit_log* log) {
  for (;;) {
    const audit_result r = co_await acct->audit();
    ++log->audits;
    if (!r.consistent) ++log->failed;
    if (r.lines > log->most_lines) log->most_lines = r.lines;
    const std::error_code ec = co_await goro::sleep_for(ctx, 2ms);
    if (ec) break;
  }
}

goro::task<int> amain() {
  constexpr std::int64_t initial = 1'000;
  constexpr int num_customers = 100;
  constexpr int ops_per_customer = 50;
  const auto start = goro::clock::now();

  account acct(initial);

  auto [audit_ctx, stop_audits] = goro::with_cancel(goro::background());
  std::vector<audit_log> logs(3);  // one per auditor
  std::vector<goro::join_handle<void>> auditors;
  for (auto& log : logs) auditors.push_back(goro::spawn(auditor, audit_ctx, &acct, &log));

  std::vector<goro::join_handle<tally>> customers;
  for (int i = 0; i < num_customers; ++i)
    customers.push_back(goro::spawn(customer, &acct, static_cast<unsigned>(i + 1), ops_per_customer));
  tally total;
  for (auto& h : customers) {
    const tally t = co_await std::move(h);
    total.deposited += t.deposited;
    total.withdrawn += t.withdrawn;
    total.deposits += t.deposits;
    total.withdrawals += t.withdrawals;
    total.refused += t.refused;
  }

  stop_audits();
  for (auto& h : auditors) co_await std::move(h);
  int failed_audits = 0, total_audits = 0;
  std::size_t most_lines = 0;
  for (const auto& log : logs) {
    total_audits += log.audits;
    failed_audits += log.failed;
    if (log.most_lines > most_lines) most_lines = log.most_lines;
  }

  const account::snapshot end = co_await acct.read();
  const audit_result final_audit = co_await acct.audit();
  const double ms = std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();

  const std::int64_t expected = initial + total.deposited - total.withdrawn;
  const int transactions = total.deposits + total.withdrawals;
  std::printf("%d customers made %d transactions each in %.1f ms:\n", num_customers, ops_per_customer, ms);
  std::printf("  %5d deposits            +%lld\n", total.deposits, static_cast<long long>(total.deposited));
  std::printf("  %5d withdrawals paid    -%lld\n", total.withdrawals, static_cast<long long>(total.withdrawn));
  std::printf("  %5d withdrawals refused (not enough money)\n", total.refused);
  std::printf("balance: %lld initial, %lld final, %lld expected; it %s below zero\n",
              static_cast<long long>(initial), static_cast<long long>(end.balance),
              static_cast<long long>(expected), end.went_negative ? "WENT" : "never went");
  std::printf("statement: %zu lines for %d transactions, %s\n", final_audit.lines, transactions,
              final_audit.consistent ? "consistent" : "INCONSISTENT");
  std::printf("auditors: %d audits during the run (the longest replayed %zu lines), %d inconsistent\n",
              total_audits, most_lines, failed_audits);

  const bool correct = !end.went_negative && end.balance == expected && end.balance >= 0 &&
                       total.deposits + total.withdrawals + total.refused == num_customers * ops_per_customer &&
                       total.refused > 0 && final_audit.consistent &&
                       final_audit.lines == static_cast<std::size_t>(transactions) && failed_audits == 0 &&
                       total_audits >= 3;
  std::printf("%s\n", correct ? "never overdrawn, and every cent accounted for" : "WRONG");
  co_return correct ? 0 : 1;
}

int main() { return goro::run(amain); }
