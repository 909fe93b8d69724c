# Chart of the lifecycle latency table (hyperfine medians, IQR error bars).
# gnuplot -e "datafile='latency.dat'; outfile='latency.svg'; subtitle='...'" latency.gp
set terminal svg size 900,480 dynamic enhanced font "sans,12" background rgb "white"
set output outfile
set title "Container lifecycle latency: davit vs crun vs runc (/bin/true, busybox)\n".subtitle noenhanced
set ylabel "milliseconds (lower is better)"
set yrange [0:*]
set grid ytics lc rgb "#dddddd"
set key outside right top
set xrange [-0.6:3.6]
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics noenhanced nomirror
set border 3
set ytics nomirror
plot datafile using 2:3:4:xtic(1) title "davit" lc rgb "#d95f02", \
     '' using 5:6:7 title "crun" lc rgb "#1b9e77", \
     '' using 8:9:10 title "runc" lc rgb "#7570b3", \
     '' using ($0-0.2):4:(sprintf("%.1f", $2)) with labels offset 0,0.7 font ",9" notitle, \
     '' using ($0):7:(sprintf("%.1f", $5)) with labels offset 0,0.7 font ",9" notitle, \
     '' using ($0+0.2):10:(sprintf("%.1f", $8)) with labels offset 0,0.7 font ",9" notitle
