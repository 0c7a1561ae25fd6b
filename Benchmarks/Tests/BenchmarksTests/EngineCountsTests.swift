import Testing

@testable import EngineBench

@Suite("Engine bench: parsing the tools' counts")
struct EngineCountsTests {
    @Test("callgrind's summary gives the instructions collected")
    func callgrindSummary() {
        let text = """
            ==7672== Events    : Ir
            ==7672== Collected : 65679059
            ==7672==
            ==7672== I   refs:      65,679,059
            """
        #expect(Counts.callgrindCollected(text) == 65_679_059)
        #expect(Counts.callgrindCollected("==1== Valgrind: I can't recover.") == nil)
    }

    @Test("strace -c gives the calls of one system call, with or without an errors column")
    func straceSummary() {
        let summary = """
            % time     seconds  usecs/call     calls    errors syscall
            ------ ----------- ----------- --------- --------- ----------------
             91.13    0.137720          19      7130       253 futex
              8.87    0.013413         745        18           clock_nanosleep
            ------ ----------- ----------- --------- --------- ----------------
            100.00    0.151133          21      7148       253 total
            """
        #expect(Counts.straceCalls(summary, syscall: "futex") == 7_130)
        #expect(Counts.straceCalls(summary, syscall: "clock_nanosleep") == 18)
        #expect(Counts.straceCalls(summary, syscall: "mmap") == nil)
    }
}
