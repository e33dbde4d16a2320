/* The live view's parts: its state, the list, the details and the menus. */
#ifndef UNITOP_UI_H
#define UNITOP_UI_H

#include <curses.h>

#include "unitop.h"

enum ui_mode {
    UI_LIST = 0,
    UI_DETAIL,
    UI_HELP,
    UI_SORT_MENU,
    UI_ACTION_MENU,
};

/* The line being typed at the bottom, if any. */
enum ui_prompt {
    UI_PROMPT_NONE = 0,
    UI_PROMPT_SEARCH,
    UI_PROMPT_FILTER,
};

/* Colour pairs, or plain attributes on a monochrome terminal. */
enum ui_color {
    UI_C_BAR = 1, /* column titles */
    UI_C_SORT,    /* the sort column's title */
    UI_C_SELECT,  /* the selected row */
    UI_C_GOOD,    /* running */
    UI_C_WARN,    /* paused, starting, debug */
    UI_C_BAD,     /* panicked, dead, stalled, corrupt */
    UI_C_TAG,     /* tagged rows */
    UI_C_KEY,     /* function key labels */
    UI_C_TITLE,   /* the header's figures */
};

/* One thread's CPU time at the last draw of the details, for its CPU%. */
struct ui_thread_prev {
    uint32_t slot, id;
    uint64_t cpu_time;
};

struct top_ui {
    int delay_ms;
    int colors;
    enum ui_mode mode;
    enum ui_prompt prompt;
    char text[64];   /* the prompt's text */
    char filter[64]; /* names shown must hold this, "" for all */
    int sort_col, invert;
    char selected[USC_TARGET_NAME_MAX]; /* kept across sorts by name */
    size_t sel, top;                    /* row of the view, first shown */
    struct top_guest **view;            /* filtered and sorted */
    size_t nview, view_cap;
    int menu_sel;
    enum ui_mode back; /* where a menu returns to */
    int scroll;        /* of the details */
    /* the details' thread CPU times, for rates between draws */
    struct usc_agent_thread *threads;
    size_t threads_cap;
    struct ui_thread_prev *tprev;
    size_t ntprev, tprev_cap;
    int64_t tprev_ms;
    char tprev_guest[USC_TARGET_NAME_MAX];
};

/* The attribute of colour (c), or its monochrome stand-in. */
int top_ui_attr(const struct top_ui *ui, enum ui_color c);

/* The attribute a guest in state (s) is drawn with. */
int top_ui_state_attr(const struct top_ui *ui, enum top_state s);

/* The selected guest of the view, or NULL. */
struct top_guest *top_ui_selected(const struct top_ui *ui);

/* Print (s) at (y, x), at most (width) columns, padding with spaces. */
void top_ui_put(int y, int x, int width, const char *s);

/* The bottom line: function keys, or the prompt being typed. */
void top_ui_draw_keys(const struct top_ui *ui, const char *const *keys);

/* ---- ui_detail.c -------------------------------------------------------- */

void top_ui_draw_detail(struct top_ui *ui, struct top_fleet *f);

/* ---- ui_menu.c ---------------------------------------------------------- */

void top_ui_draw_help(struct top_ui *ui);
void top_ui_draw_menu(struct top_ui *ui);
/* A key in a menu; returns 1 when the menu closed. */
int top_ui_menu_key(struct top_ui *ui, struct top_fleet *f,
                    struct top_actions *a, int key);
/* Run action (item) of the action menu on the tagged or selected guests. */
void top_ui_act(struct top_ui *ui, struct top_fleet *f, struct top_actions *a,
                int item);

#endif /* UNITOP_UI_H */
