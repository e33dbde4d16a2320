/* The agent's calls, made optional at link time (see README.md). */
#ifndef HELLO_AGENT_OPTIONAL_H
#define HELLO_AGENT_OPTIONAL_H

#include <uniscope/agent.h>

/*
 * Declared weak: the same objects link with uniscope's Solo5 port and the
 * agent (every call is made) and without them, as an agent-less image in
 * which each of these addresses is 0 and HAVE_AGENT is false. A
 * tracepoint is never registered there, so its USCA_TRACE sites stay off.
 */
#pragma weak usca_control_block
#pragma weak usca_metric_register
#pragma weak usca_counter_add
#pragma weak usca_gauge_set
#pragma weak usca_thread_create
#pragma weak usca_thread_set_state
#pragma weak usca_thread_switch
#pragma weak usca_thread_exit
#pragma weak usca_tracepoint_register
#pragma weak usca_trace_emit

#define HAVE_AGENT (usca_control_block != 0)

#endif
